// The canned-reply picker: "/" at the start of the reply box opens a filtered list of the
// caller's canned replies (personal and shared). Keyboard first: arrows move, Enter or Tab
// inserts, Escape closes; the box keeps the focus and points at the active option
// (aria-activedescendant), so screen readers follow along.

import { get } from "./api.js";
import { h } from "./dom.js";

const TRIGGER = /^\/([a-z0-9_-]*)$/i;
const MAX_SHOWN = 8;

let cache = null; // the promise of [Canned] for this page, until something changes them

/** The caller's canned replies (loaded once per page; `forgetCanned` reloads next time). */
export function loadCanned() {
  if (!cache) {
    cache = get("/api/v1/canned")
      .then((answer) => answer.canned || [])
      .catch((error) => {
        cache = null;
        throw error;
      });
  }
  return cache;
}

export function forgetCanned() {
  cache = null;
}

/** The replies matching what follows the "/", best first, as the server's `q` ranks them. */
export function matching(replies, query) {
  const wanted = query.toLowerCase();
  if (!wanted) return replies;
  const rank = (reply) =>
    reply.shortcut.startsWith(wanted)
      ? 0
      : reply.shortcut.includes(wanted)
        ? 1
        : reply.text.toLowerCase().includes(wanted)
          ? 2
          : 3;
  return replies
    .map((reply) => [rank(reply), reply])
    .filter(([score]) => score < 3)
    .sort((a, b) => a[0] - b[0])
    .map(([, reply]) => reply);
}

/** The reply's text with {{visitor.name}} and {{agent.name}} filled in. */
export function fillPlaceholders(text, { visitor, agent }) {
  return text
    .replace(/\{\{\s*visitor\.name\s*\}\}/g, visitor || "there")
    .replace(/\{\{\s*agent\.name\s*\}\}/g, agent || "");
}

let pickerCount = 0;

/**
 * Attach the picker to `textarea` (call before other keydown handlers are added, so Enter
 * inserts instead of sending while the list is open). `names()` gives {visitor, agent}.
 * Returns {element (place it above the box), close}.
 */
export function attachPicker(textarea, names) {
  pickerCount += 1;
  const listId = `canned-picker-${pickerCount}`;
  const list = h("ul", {
    id: listId,
    role: "listbox",
    class: "canned-picker",
    "aria-label": "Canned replies",
  });
  const note = h("p", { class: "canned-note", role: "status" });
  const element = h("div", { class: "canned-host", hidden: true }, list, note);
  let shown = []; // the replies listed now
  let active = 0;
  let open = false;
  let asked = 0; // ignore answers to superseded lookups

  textarea.setAttribute("aria-controls", listId);

  function close() {
    open = false;
    shown = [];
    element.hidden = true;
    list.replaceChildren();
    note.textContent = "";
    textarea.removeAttribute("aria-activedescendant");
  }

  function draw() {
    list.replaceChildren(
      ...shown.map((reply, index) => {
        const option = h(
          "li",
          {
            id: `${listId}-${index}`,
            role: "option",
            class: "canned-option",
            "aria-selected": String(index === active),
          },
          h("span", { class: "canned-shortcut" }, `/${reply.shortcut}`),
          reply.shared ? h("span", { class: "tag" }, "shared") : null,
          h("span", { class: "canned-text" }, reply.text),
        );
        // mousedown, not click: the box must keep the focus.
        option.addEventListener("mousedown", (event) => {
          event.preventDefault();
          insert(reply);
        });
        return option;
      }),
    );
    if (shown.length) {
      textarea.setAttribute("aria-activedescendant", `${listId}-${active}`);
      list.children[active].scrollIntoView({ block: "nearest" });
    } else textarea.removeAttribute("aria-activedescendant");
  }

  async function update() {
    const match = TRIGGER.exec(textarea.value);
    if (!match) {
      if (open) close();
      return;
    }
    const ticket = ++asked;
    let replies;
    try {
      replies = await loadCanned();
    } catch (error) {
      if (ticket !== asked) return;
      open = true;
      element.hidden = false;
      note.textContent = `Canned replies did not load: ${error.message}`;
      return;
    }
    if (ticket !== asked || !TRIGGER.test(textarea.value)) return;
    open = true;
    element.hidden = false;
    shown = matching(replies, match[1]).slice(0, MAX_SHOWN);
    active = Math.min(active, Math.max(0, shown.length - 1));
    note.textContent = shown.length
      ? `${shown.length} canned ${shown.length === 1 ? "reply" : "replies"}: arrows choose, Enter inserts, Escape closes.`
      : replies.length
        ? "No canned reply matches."
        : "No canned replies yet: add them under Canned replies.";
    draw();
  }

  function insert(reply) {
    textarea.value = fillPlaceholders(reply.text, names());
    close();
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  textarea.addEventListener("input", () => {
    active = 0;
    update();
  });
  textarea.addEventListener("blur", () => {
    if (open) close();
  });
  textarea.addEventListener("keydown", (event) => {
    if (!open) return;
    const keys = {
      ArrowDown: () => (active = shown.length ? (active + 1) % shown.length : 0),
      ArrowUp: () => (active = shown.length ? (active - 1 + shown.length) % shown.length : 0),
      Enter: () => shown.length && insert(shown[active]),
      Tab: () => shown.length && insert(shown[active]),
      Escape: () => close(),
    };
    const action = keys[event.key];
    if (!action || event.shiftKey || event.isComposing) return;
    if (event.key === "Tab" && !shown.length) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    action();
    if (open) draw();
  });
  return { element, close };
}
