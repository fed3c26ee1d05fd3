// The texting panel of the Sites screen: whether SMS and WhatsApp (through Twilio) are on, what
// is missing when they are off, and the webhook URL to paste into the Twilio console.

import { loadChannels } from "./channels.js";
import { copyButton, fill, h } from "./dom.js";
import { getState, subscribe } from "./store.js";

const CIRCUIT = {
  open: "Sending is paused because Twilio keeps failing; texts wait in the queue and go out when it recovers.",
  half_open: "Sending is paused: a trial text is checking whether Twilio has recovered.",
};

function off(twilio) {
  return [
    h("p", { class: "texting-state off" }, "Texting is off."),
    h(
      "p",
      {},
      "Texts to the numbers below are refused, and replies in SMS and WhatsApp conversations are " +
        "not sent, until these settings are set (in settings.toml under [twilio], or as " +
        "OMNICHAT_TWILIO_... environment variables) and the server is restarted:",
    ),
    h(
      "ul",
      { class: "missing-settings", "aria-label": "Missing settings" },
      (twilio.missing || []).map((name) => h("li", { class: "mono" }, name)),
    ),
  ];
}

function on(twilio) {
  const webhook = h("input", {
    type: "text",
    readOnly: true,
    value: twilio.webhook_url || "",
    "aria-label": "Twilio messaging webhook URL",
  });
  return [
    h("p", { class: "texting-state on" }, "Texting is on."),
    CIRCUIT[twilio.circuit]
      ? h("p", { class: "form-error", role: "alert" }, CIRCUIT[twilio.circuit])
      : null,
    h(
      "p",
      {},
      'In the Twilio console, set each number\'s "A message comes in" webhook (HTTP POST) to:',
    ),
    h(
      "div",
      { class: "copy-row" },
      webhook,
      copyButton(() => webhook.value, webhook),
    ),
    twilio.status_callback_url
      ? h(
          "p",
          { class: "hint" },
          "Delivery reports come back to ",
          h("span", { class: "mono" }, twilio.status_callback_url),
          " on their own: there is nothing to set for them.",
        )
      : null,
  ];
}

function body(channels) {
  if (!channels) return [h("p", { class: "hint" }, "Loading…")];
  if (channels.error) return [h("p", { class: "form-error", role: "alert" }, channels.error)];
  return channels.twilio.enabled ? on(channels.twilio) : off(channels.twilio);
}

/** The panel; returns {element, destroy}. It asks the server afresh each time it is shown. */
export function textingPanel() {
  const content = h("div", {});
  const element = h(
    "section",
    { class: "card texting", "aria-labelledby": "texting-title" },
    h("h2", { id: "texting-title" }, "SMS and WhatsApp"),
    content,
  );
  const render = (state) => fill(content, body(state.channels));
  render(getState());
  const unsubscribe = subscribe((state, changed) => {
    if (changed.has("channels")) render(state);
  });
  loadChannels({ force: true });
  return { element, destroy: unsubscribe };
}
