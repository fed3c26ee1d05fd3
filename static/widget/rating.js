/* Omnichat widget, loaded on demand: after the conversation closes, a 1-5 rating with an
 * optional comment (once per close; the server answers 409 after). */
import { actions, step } from "./form.js";

const STRINGS = {
  rate: "Rate this conversation",
  rateIntro: "How did we do?",
  star: "{n} out of 5",
  comment: "Comment (optional)",
  needScore: "Please choose a score from 1 to 5.",
  rated: "Thank you for your feedback.",
};

export default function (kit) {
  const parts = step(kit, "rating", "rate", STRINGS);
  const { box, form, fail } = parts;
  const stars = kit.attrs(kit.el("div", "stars"), { role: "group" });
  kit.say(stars, "rateIntro", "aria-label");
  let score = 0;
  for (let n = 1; n <= 5; n++) {
    const star = kit.attrs(kit.el("button", "", "★"), { type: "button", "aria-pressed": "false" });
    star.setAttribute("aria-label", kit.strings.star.replace("{n}", n));
    star.addEventListener("click", () => {
      score = n;
      for (const other of stars.children) {
        other.setAttribute("aria-pressed", String(other === star));
      }
    });
    stars.append(star);
  }
  const comment = kit.attrs(kit.el("textarea"), { name: "comment", rows: "2", maxlength: "1000" });
  const label = kit.el("label");
  label.append(kit.say(kit.el("span"), "comment"), comment);
  form.append(kit.say(kit.el("p"), "rateIntro"), stars, label);
  const submit = actions(kit, form, parts.error, "send", () => (box.hidden = true));

  function done() {
    box.hidden = true;
    kit.thank(kit.strings.rated);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!score) return fail(kit.strings.needScore);
    fail("");
    submit.disabled = true;
    try {
      const text = comment.value.trim();
      await kit.request("POST", "/api/v1/widget/rating", { score, comment: text || null });
      done();
    } catch (e) {
      if (e.status === 409) done(); // rated already, from another tab
      else parts.failed(e);
    } finally {
      submit.disabled = false;
    }
  });
  return {
    show() {
      form.reset();
      box.hidden = false;
      parts.expand(true);
    },
  };
}
