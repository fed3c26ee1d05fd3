/* Omnichat widget, loaded on demand: the site's pre-chat form, asked before the first message.
 * What it sends is the visitor's own word (staff see it unverified). */
import { actions, badEmail, fields, step, values } from "./form.js";

const STRINGS = {
  prechat: "Before we start",
  prechatIntro: "Tell us how to reach you. Fields marked * are required.",
  start: "Start chat",
  needField: "Please fill in this field.",
};

export default function (kit) {
  const { enabled, fields: names = [], required = [] } = kit.site().prechat || {};
  const parts = step(kit, "prechat", "prechat", STRINGS);
  const { box, form, fail } = parts;
  form.append(kit.say(kit.el("p"), "prechatIntro"));
  fields(kit, form, names, required);
  for (const name of required) form.elements[name].previousSibling.append(" *");
  const submit = actions(kit, form, parts.error, "start", () => {
    box.hidden = true;
    kit.composer.hidden = false;
  });
  parts.toggle.disabled = true; // this step does not fold: it stands in for the composer

  function show(focus) {
    if (!enabled) return;
    box.hidden = false;
    kit.composer.hidden = true;
    parts.expand(true);
    if (focus && names.length) form.elements[names[0]].focus();
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const given = values(form, names);
    const missing = required.find((name) => !given[name]);
    if (missing) return fail(kit.strings.needField, missing);
    if (badEmail(given.email)) return fail(kit.strings.badEmail, "email");
    fail("");
    submit.disabled = true;
    try {
      await kit.session();
      const body = {};
      for (const name of names) if (given[name]) body[name] = given[name];
      await kit.request("POST", "/api/v1/widget/identify", body);
      box.hidden = true;
      kit.composer.hidden = false;
      kit.input.focus();
      kit.prechatDone();
    } catch (e) {
      parts.failed(e);
    } finally {
      submit.disabled = false;
    }
  });
  return { show };
}
