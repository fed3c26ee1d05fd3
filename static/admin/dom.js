// A tiny element builder and a few shared pieces. Strings always become text nodes, so data is
// never parsed as HTML.

const FORBIDDEN = new Set(["style", "innerHTML", "outerHTML"]);

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Close"}, "Close", child, [more])
 * Props: `class`, `dataset` (object), `on<event>` functions (addEventListener), DOM properties
 * (value, checked, disabled, hidden, type, ...) and otherwise attributes. Never `style`: our CSP
 * forbids inline styles, and classes keep the look in the stylesheet.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (FORBIDDEN.has(key)) throw new Error(`h(): ${key} is not allowed`);
    if (key === "class") setClasses(el, Array.isArray(value) ? value : [value]);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key in el && !key.includes("-")) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Set an element's classes from a list; false, null and "" in it are left out. */
export function setClasses(el, names) {
  el.className = names.filter(Boolean).join(" ");
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

let fieldCount = 0;

/**
 * A labelled form control: the label's text above the control, which it names, and under it
 * the place for its error, which describes it (see showFieldError).
 */
export function field(label, control) {
  fieldCount += 1;
  const error = fieldErrorFor(control, `field-${fieldCount}-error`);
  return h("label", { class: "field" }, h("span", {}, label), control, error);
}

/** The (empty) error element of `control`, with id `id`, described by it. */
export function fieldErrorFor(control, id) {
  const error = h("span", { class: "field-error", role: "alert", id });
  const described = control.getAttribute("aria-describedby");
  control.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
  return error;
}

/**
 * Show a refused request next to the field it names: the server's 422 says "field: message"
 * and the control inside `scope` with that name shows it (aria-invalid, its description) and
 * takes focus. Any other failure goes to `formError`.
 */
export function showFieldError(scope, failure, formError) {
  const named = /^([a-z_]+): (.+)$/s.exec(failure.message || "");
  const control = named && scope.querySelector(`[name="${named[1]}"]`);
  const ids = control ? (control.getAttribute("aria-describedby") || "").split(" ") : [];
  const error = ids
    .map((id) => document.getElementById(id))
    .find((el) => el && el.classList.contains("field-error"));
  if (!error) {
    formError.textContent = failure.message;
    return;
  }
  error.textContent = named[2].charAt(0).toUpperCase() + named[2].slice(1);
  control.setAttribute("aria-invalid", "true");
  control.focus();
}

/** Clear the field errors shown inside `scope`. */
export function clearFieldErrors(scope) {
  for (const control of scope.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
  }
  for (const error of scope.querySelectorAll(".field-error")) error.textContent = "";
}

/**
 * Run `work` when `form` is submitted, with `button` disabled meanwhile so a double click sends
 * once; a failure naming a field of the form shows next to it, any other in `error`.
 */
export function onSubmit(form, button, error, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    clearFieldErrors(form);
    button.disabled = true;
    try {
      await work();
    } catch (failure) {
      showFieldError(form, failure, error);
    } finally {
      button.disabled = false;
    }
  });
}

/** Replace an element's children (strings as text). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A Copy button: the clipboard API where available, else the text selected for Ctrl+C. */
export function copyButton(text, selectable) {
  const button = h("button", { type: "button" }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text());
      button.textContent = "Copied";
    } catch {
      selectable.focus();
      selectable.select();
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(() => {
      button.textContent = "Copy";
    }, 2_000);
  });
  return button;
}

// An address fit for a mailto: link: one @, no white space, controls or characters that end or
// quote a URL part in the domain. The server checks addresses strictly, but rows stored before it
// did may hold anything (a "?bcc=..." glued on, say).
const PLAIN_ADDRESS = /^[^\s\p{Cc}@<>()[\]\\,;:"]+@[^\s\p{Cc}@<>()[\]\\,;:"?&#%/=]+$/u;

/**
 * An email address as a mailto: link, or as plain text when it is not a plain address. Each
 * side of the @ is percent-encoded: a local part may legally hold "?" or "&", which would
 * otherwise start link parameters (bcc, body) in the mail program.
 */
export function emailLink(address) {
  if (!PLAIN_ADDRESS.test(address)) return address;
  const at = address.lastIndexOf("@");
  const local = encodeURIComponent(address.slice(0, at));
  const domain = encodeURIComponent(address.slice(at + 1));
  return h("a", { href: `mailto:${local}@${domain}` }, address);
}

/** A short human time: "14:05" today, "3 Mar 14:05" otherwise. */
export function clock(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

/** How long ago, compactly: "now", "5m", "2h", "3d". */
export function age(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** A random id for idempotent sends; randomUUID needs a secure context, so fall back. */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** True when a key press belongs to a field the user is typing in. */
export function typingInField(event) {
  const target = event.target;
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable='true']"));
}
