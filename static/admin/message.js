// One message of a transcript as an element: sender, author, time, text; private notes and
// system messages styled apart; a reply still being sent, or failed with Retry and Discard.

import { visitorName } from "./conversations.js";
import { clock, h } from "./dom.js";
import { discardReply, retryReply } from "./transcript.js";

function senderLabel(message, me) {
  if (message.sender === "visitor") return "Visitor";
  if (message.sender === "system") return "System";
  if (message.author && me && message.author.id === me.id) return "You";
  return (message.author && message.author.name) || "Agent";
}

export function messageElement(message, state) {
  const conversation = state.conversations.get(message.conversation_id);
  const who =
    message.sender === "visitor" && conversation
      ? visitorName(conversation)
      : senderLabel(message, state.me);
  return h(
    "article",
    {
      class: ["message", `from-${message.sender}`, message.private && "private"],
      dataset: { seq: String(message.seq) },
      "aria-label": `${message.private ? "Private note" : "Message"} from ${who}`,
    },
    h(
      "header",
      { class: "message-head" },
      h("span", { class: "author" }, who),
      message.private ? h("span", { class: "tag note" }, "Private note") : null,
      h(
        "time",
        { datetime: message.created_at, title: message.created_at },
        clock(message.created_at),
      ),
    ),
    h("p", { class: "message-text" }, message.text),
  );
}

export function pendingElement(pending, id) {
  return h(
    "article",
    {
      class: [
        "message",
        "from-agent",
        "pending",
        pending.private && "private",
        pending.failed && "failed",
      ],
    },
    h(
      "header",
      { class: "message-head" },
      h("span", { class: "author" }, "You"),
      pending.private ? h("span", { class: "tag note" }, "Private note") : null,
      h("span", { class: "sending" }, pending.failed ? "Not sent" : "Sending…"),
    ),
    h("p", { class: "message-text" }, pending.text),
    pending.failed
      ? h(
          "p",
          { class: "form-error" },
          `${pending.failed} `,
          h(
            "button",
            { type: "button", onclick: () => retryReply(id, pending.client_id) },
            "Retry",
          ),
          h(
            "button",
            { type: "button", class: "ghost", onclick: () => discardReply(id, pending.client_id) },
            "Discard",
          ),
        )
      : null,
  );
}
