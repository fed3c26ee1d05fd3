/* Omnichat widget, loaded on demand: what the follow-up, pre-chat and rating steps share, a
 * collapsible step in the panel and its labelled fields. */
const CSS = `
.step{max-height:65%;overflow-y:auto;padding:8px 16px 12px;border-top:1px solid var(--oc-border)}
.step h3{margin:0;font-size:16px}
.toggle{width:100%;min-height:44px;padding:0;border:0;background:none;text-align:left;
  font-weight:600}
.toggle::after{content:" ▾"}.toggle[aria-expanded=false]::after{content:" ▸"}
.step form>p,.step label{display:block;margin:0 0 8px;font-size:15px}
[aria-invalid=true]{border-color:var(--oc-error)}
.actions{display:flex;justify-content:flex-end;gap:8px}
.secondary{height:44px;padding:0 16px;border-radius:8px;font-weight:600;
  border:1px solid var(--oc-border);background:var(--oc-bg)}
.stars{display:flex;gap:4px;margin:0 0 8px}
.stars button{width:44px;height:44px;border:1px solid var(--oc-border);border-radius:8px;
  background:var(--oc-bg);font-size:22px;color:var(--oc-muted)}
.stars [aria-pressed=true]{background:var(--oc-primary);color:var(--oc-on-primary)}`;
const STRINGS = {
  name: "Name",
  email: "Email",
  phone: "Phone",
  formCancel: "Not now",
  badEmail: "Please check the email address.",
};
const TYPES = { name: ["text", "name"], email: ["email", "email"], phone: ["tel", "tel"] };
let styled = false;

/** A step titled `titleKey` that collapses to its title; `strings` are the part's defaults
 * (text set with Omnichat.setStrings wins). */
export function step(kit, cls, titleKey, strings) {
  for (const key in { ...STRINGS, ...strings }) {
    if (!(key in kit.strings)) kit.strings[key] = strings[key] || STRINGS[key];
  }
  if (!styled) kit.sheet(CSS);
  styled = true;
  const { el, attrs, say } = kit;
  const box = el("section", "step " + cls);
  const toggle = attrs(say(el("button", "toggle"), titleKey), { type: "button" });
  const form = el("form");
  form.noValidate = true;
  const error = attrs(el("p", "error"), { role: "alert" });
  const heading = el("h3");
  heading.append(toggle);
  box.append(heading, form);
  box.hidden = true;
  toggle.addEventListener("click", () => expand(form.hidden));
  function expand(open) {
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  }
  function fail(text, field) {
    error.textContent = text;
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const target = field && form.elements[field];
    if (target && target.focus) {
      target.setAttribute("aria-invalid", "true");
      target.focus();
    }
  }
  // 422 messages name the field first ("email: must be an email address").
  function failed(e) {
    const field = e.status === 422 && /^(\w+):/.exec(e.message);
    fail(e.status === 422 ? e.message : kit.strings.failed, field && field[1]);
    if (e.status === 401) kit.renew();
  }
  kit.mount(box);
  return { box, form, toggle, error, expand, fail, failed };
}

/** Labelled inputs for `names` (name, email, phone), filled with what the host page said. */
export function fields(kit, form, names, required = []) {
  const known = kit.identity();
  for (const name of names) {
    const [type, autocomplete] = TYPES[name];
    const input = kit.attrs(kit.el("input"), { type, autocomplete, maxlength: "200", name });
    if (required.includes(name)) input.required = true;
    if (known[name]) input.value = known[name];
    const label = kit.el("label");
    label.append(kit.say(kit.el("span"), name), input);
    form.append(label);
  }
}

export function values(form, names) {
  const found = {};
  for (const name of names) found[name] = form.elements[name].value.trim();
  return found;
}

export function badEmail(email) {
  return Boolean(email) && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email);
}

/** "Send" and "Not now" buttons; `cancel` runs on the second. */
export function actions(kit, form, error, sendKey, cancel) {
  const row = kit.el("div", "actions");
  const no = kit.button("secondary", "formCancel");
  const yes = kit.say(kit.el("button", "primary"), sendKey);
  no.addEventListener("click", cancel);
  row.append(no, yes);
  form.append(error, row);
  return yes;
}
