// Canned replies and labels: everyone manages their personal replies, admins also the shared
// ones and the tenant's labels (name and colour).

import { del, get, patch, post } from "./api.js";
import { field, h, onSubmit } from "./dom.js";
import { chip, loadLabels } from "./labels.js";
import { forgetCanned } from "./picker.js";
import { hasRole } from "./routes.js";
import { getState, subscribe } from "./store.js";

const DEFAULT_COLOR = "#64748b";

function repliesSection(isAdmin) {
  const error = h("p", { class: "form-error", role: "alert" });
  const status = h("p", { class: "form-ok", role: "status" });
  const shortcut = h("input", {
    type: "text",
    name: "shortcut",
    required: true,
    maxLength: 32,
    pattern: "[a-z0-9_\\-]{1,32}",
    autocomplete: "off",
    "aria-describedby": "shortcut-help",
  });
  const text = h("textarea", { name: "text", required: true, rows: 3, maxLength: 4000 });
  const shared = h("input", { type: "checkbox", name: "shared" });
  const save = h("button", { type: "submit", class: "primary" }, "Add reply");
  const cancel = h("button", { type: "button", hidden: true }, "Cancel");
  const formTitle = h("h2", { id: "canned-form-title" }, "New canned reply");
  const form = h(
    "form",
    { class: "card canned-form", "aria-labelledby": "canned-form-title" },
    formTitle,
    field("Shortcut", shortcut),
    h(
      "p",
      { id: "shortcut-help", class: "help" },
      "Lower-case letters, digits, - and _. Type / and the shortcut in the reply box.",
    ),
    field("Text", text),
    h(
      "p",
      { class: "help" },
      "{{visitor.name}} and {{agent.name}} are replaced with the visitor's and your name.",
    ),
    isAdmin
      ? h("label", { class: "toggle" }, shared, h("span", {}, "Shared with the whole team"))
      : null,
    error,
    h("div", { class: "actions" }, save, cancel),
  );
  const body = h("tbody");
  const empty = h("p", { class: "empty" });
  let editing = null; // the reply being edited, or null for a new one

  function startEdit(reply) {
    editing = reply;
    shortcut.value = reply.shortcut;
    text.value = reply.text;
    shared.checked = reply.shared;
    formTitle.textContent = `Edit /${reply.shortcut}`;
    save.textContent = "Save changes";
    cancel.hidden = false;
    error.textContent = "";
    shortcut.focus();
  }

  function reset() {
    editing = null;
    form.reset();
    formTitle.textContent = "New canned reply";
    save.textContent = "Add reply";
    cancel.hidden = true;
  }
  cancel.addEventListener("click", reset);

  async function reload() {
    forgetCanned();
    try {
      const answer = await get("/api/v1/canned");
      draw(answer.canned || []);
    } catch (failure) {
      empty.textContent = `Canned replies did not load: ${failure.message}`;
    }
  }

  function draw(replies) {
    empty.textContent = replies.length ? "" : "No canned replies yet.";
    body.replaceChildren(
      ...replies.map((reply) => {
        const mayWrite = !reply.shared || isAdmin;
        const remove = h("button", { type: "button", class: "danger" }, "Delete");
        remove.setAttribute("aria-label", `Delete /${reply.shortcut}`);
        remove.addEventListener("click", async () => {
          remove.disabled = true;
          try {
            await del(`/api/v1/canned/${reply.id}`);
            status.textContent = `Deleted /${reply.shortcut}.`;
            if (editing && editing.id === reply.id) reset();
            await reload();
          } catch (failure) {
            error.textContent = failure.message;
            remove.disabled = false;
          }
        });
        const edit = h("button", { type: "button", onclick: () => startEdit(reply) }, "Edit");
        edit.setAttribute("aria-label", `Edit /${reply.shortcut}`);
        return h(
          "tr",
          {},
          h("td", { class: "mono" }, `/${reply.shortcut}`),
          h("td", { class: "canned-cell" }, reply.text),
          h("td", {}, reply.shared ? "Shared" : "Personal"),
          h("td", { class: "actions" }, mayWrite ? [edit, remove] : null),
        );
      }),
    );
  }

  onSubmit(form, save, error, async () => {
    status.textContent = "";
    const values = { shortcut: shortcut.value.trim(), text: text.value };
    if (isAdmin) values.shared = shared.checked;
    if (editing) await patch(`/api/v1/canned/${editing.id}`, values);
    else await post("/api/v1/canned", values);
    status.textContent = editing ? `Saved /${values.shortcut}.` : `Added /${values.shortcut}.`;
    reset();
    await reload();
  });

  const element = h(
    "section",
    { "aria-labelledby": "canned-title" },
    h("h1", { id: "canned-title" }, "Canned replies"),
    form,
    status,
    empty,
    h(
      "table",
      { class: "table canned-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Shortcut"),
          h("th", {}, "Text"),
          h("th", {}, "Kind"),
          h("th", {}, h("span", { class: "visually-hidden" }, "Actions")),
        ),
      ),
      body,
    ),
  );
  reload();
  return element;
}

function labelsSection(isAdmin) {
  const error = h("p", { class: "form-error", role: "alert" });
  const list = h("ul", { class: "label-list", "aria-label": "Labels" });
  const name = h("input", { type: "text", name: "name", required: true, maxLength: 40 });
  const color = h("input", { type: "color", name: "color", defaultValue: DEFAULT_COLOR });
  const add = h("button", { type: "submit", class: "primary" }, "Add label");
  const form = h(
    "form",
    { class: "card inline-form", "aria-label": "New label" },
    field("Label name", name),
    field("Colour", color),
    add,
  );
  onSubmit(form, add, error, async () => {
    await post("/api/v1/labels", { name: name.value, color: color.value });
    form.reset();
    await loadLabels();
  });

  function draw(labels) {
    list.replaceChildren(
      ...labels.map((label) => {
        const remove = h("button", { type: "button", class: "danger" }, "Delete");
        remove.setAttribute("aria-label", `Delete label ${label.name}`);
        remove.addEventListener("click", async () => {
          remove.disabled = true;
          error.textContent = "";
          try {
            await del(`/api/v1/labels/${label.id}`);
            await loadLabels();
          } catch (failure) {
            error.textContent = failure.message;
            remove.disabled = false;
          }
        });
        return h("li", {}, chip(label.name, label.color), isAdmin ? remove : null);
      }),
    );
    if (!labels.length) list.append(h("li", { class: "empty" }, "No labels yet."));
  }

  const element = h(
    "section",
    { "aria-labelledby": "labels-title" },
    h("h2", { id: "labels-title" }, "Labels"),
    h(
      "p",
      { class: "help" },
      isAdmin
        ? "Labels sort conversations (set them in a conversation's details; filter the inbox by them). Deleting one takes it off every conversation."
        : "Admins define labels; set them in a conversation's details.",
    ),
    isAdmin ? form : null,
    error,
    list,
  );
  return { element, draw };
}

export function mountCanned(host) {
  const isAdmin = hasRole(getState().me, "admin");
  const labels = labelsSection(isAdmin);
  host.replaceChildren(h("div", { class: "page" }, repliesSection(isAdmin), labels.element));
  labels.draw(getState().labels || []);
  loadLabels().catch(() => {});
  const unsubscribe = subscribe((state, changed) => {
    if (changed.has("labels")) labels.draw(state.labels || []);
  });
  return { destroy: unsubscribe };
}
