/* Omnichat widget, loaded on demand: the follow-up form ("leave a message"), for when nobody can
 * answer now. On escalation it shows as a one-line step; expanded from the menu or up front
 * when nobody is online. */
import { actions, badEmail, fields, step, values } from "./form.js";

const STRINGS = {
  leaveMessage: "Leave a message",
  formIntro: "Leave your details and a team member will get back to you.",
  details: "How can we help?",
  needContact: "Please give an email address or a phone number.",
  needMessage: "Please write a message.",
  thanks: "Thank you for your message. Our team will respond promptly.",
};

export default function (kit) {
  const parts = step(kit, "followup", "leaveMessage", STRINGS);
  const { box, form, fail } = parts;
  form.append(kit.say(kit.el("p"), "formIntro"));
  fields(kit, form, ["name", "email", "phone"]);
  const message = kit.attrs(kit.el("textarea"), { name: "message", rows: "3" });
  const label = kit.el("label");
  label.append(kit.say(kit.el("span"), "details"), message);
  form.append(label);
  const submit = actions(kit, form, parts.error, "send", hide);

  function hide() {
    const focused = kit.focused(box);
    box.hidden = true;
    if (focused) kit.input.focus();
  }
  function show(focus, expanded) {
    box.hidden = false;
    parts.expand(expanded || !form.hidden);
    if (focus) form.elements.name.focus();
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const given = values(form, ["name", "email", "phone", "message"]);
    if (!given.email && !given.phone) return fail(kit.strings.needContact, "email");
    if (badEmail(given.email)) return fail(kit.strings.badEmail, "email");
    if (!given.message) return fail(kit.strings.needMessage, "message");
    fail("");
    submit.disabled = true;
    try {
      await kit.session();
      const answer = await kit.request("POST", "/api/v1/widget/followup", given);
      form.reset();
      hide();
      // With a conversation the server thanks the visitor in it; without one, we do.
      if (answer.message) kit.add([answer.message]);
      kit.thank(answer.message ? "" : kit.strings.thanks);
    } catch (e) {
      parts.failed(e);
    } finally {
      submit.disabled = false;
    }
  });
  return { show };
}
