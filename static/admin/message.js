// One message of a transcript as an element: sender, author, time, text; private notes and
// system messages styled apart; an SMS/WhatsApp text's delivery state (Retry when it failed);
// a reply still being sent, or failed with Retry and Discard.

import { attachmentsElement } from "./attachments.js";
import { deliveryFailed, isTexted } from "./channels.js";
import { visitorName } from "./conversations.js";
import { clock, h, setClasses } from "./dom.js";
import { discardReply, retryReply, retryText } from "./transcript.js";

const DELIVERY = {
  pending: "Waiting to send",
  sending: "Sending…",
  queued: "Queued at Twilio",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  undelivered: "Not delivered",
  failed: "Not delivered",
};
// The server appends each media URL of an incoming text on a line of its own.
const MEDIA_LINE = /^\[media\] (\S+)$/;

function senderLabel(message, me) {
  if (message.sender === "visitor") return "Visitor";
  if (message.sender === "system") return "System";
  if (message.author && me && message.author.id === me.id) return "You";
  return (message.author && message.author.name) || "Agent";
}

/** `text` as an http(s) URL, or null: nothing else becomes a link. */
function webUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

// An http(s) URL in running text; trailing punctuation is the sentence's, not the link's.
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"]+/gi;
const TRAILING = /[.,;:!?'")\]]+$/;

function link(href, text) {
  return h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, text);
}

/** The text with its http(s) URLs as links: text nodes and anchors, never parsed markup. */
function withLinks(text) {
  const children = [];
  let from = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    const raw = match[0].replace(TRAILING, "");
    const href = webUrl(raw);
    if (!href) continue;
    if (match.index > from) children.push(text.slice(from, match.index));
    children.push(link(href, raw));
    from = match.index + raw.length;
  }
  if (from < text.length) children.push(text.slice(from));
  return children;
}

/** The text with its `[media] URL` lines as links (text nodes and anchors, never markup). */
function withMediaLinks(text) {
  const children = [];
  text.split("\n").forEach((line, index) => {
    if (index) children.push("\n");
    const match = MEDIA_LINE.exec(line);
    const href = match && webUrl(match[1]);
    if (!href) {
      children.push(...withLinks(line));
      return;
    }
    children.push("[media] ", link(href, match[1]));
  });
  return children;
}

function problem(delivery) {
  if (!delivery.error_code && !delivery.error_message) return "";
  const code = delivery.error_code ? `Error ${delivery.error_code}` : "Error";
  return delivery.error_message ? `${code}: ${delivery.error_message}` : code;
}

/** Where an SMS/WhatsApp text stands; a failed one says why and offers Retry. */
function deliveryElement(message, retry) {
  const { delivery } = message;
  const failed = deliveryFailed(message);
  const busy = Boolean(retry && retry.busy);
  const label =
    delivery.status === "pending" && delivery.error_code
      ? "Waiting to retry"
      : DELIVERY[delivery.status] || delivery.status;
  const why = problem(delivery);
  return h(
    "div",
    { class: ["delivery", failed && "failed"], dataset: { status: delivery.status } },
    h("span", { class: "delivery-state" }, label),
    why ? h("span", { class: "delivery-error" }, why) : null,
    failed
      ? h(
          "button",
          {
            type: "button",
            disabled: busy,
            onclick: () => retryText(message.conversation_id, message.id),
          },
          busy ? "Retrying…" : "Retry",
        )
      : null,
    retry && retry.error ? h("span", { class: "form-error", role: "alert" }, retry.error) : null,
  );
}

/** A transcript message; `retry` is the state of sending a failed text again, if any. */
export function messageElement(message, state, retry) {
  const conversation = state.conversations.get(message.conversation_id);
  const who =
    message.sender === "visitor" && conversation
      ? visitorName(conversation)
      : senderLabel(message, state.me);
  return h(
    "article",
    {
      class: [
        "message",
        `from-${message.sender}`,
        message.private && "private",
        deliveryFailed(message) && "not-delivered",
      ],
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
    message.text || !(message.attachments || []).length
      ? h(
          "p",
          { class: "message-text" },
          message.sender === "visitor" && isTexted(conversation)
            ? withMediaLinks(message.text)
            : withLinks(message.text),
        )
      : null,
    (message.attachments || []).length ? attachmentsElement(message.attachments) : null,
    message.delivery ? deliveryElement(message, retry) : null,
  );
}

/**
 * Draw a reply still being sent (or failed, with Retry and Discard) into `element`, an article
 * kept while the reply is pending: {conversation, text, private, failed} and its client id.
 */
export function drawPending(element, pending, clientId) {
  const { conversation: id } = pending;
  setClasses(element, [
    "message",
    "from-agent",
    "pending",
    pending.private && "private",
    pending.failed && "failed",
  ]);
  element.replaceChildren(
    h(
      "header",
      { class: "message-head" },
      h("span", { class: "author" }, "You"),
      pending.private ? h("span", { class: "tag note" }, "Private note") : null,
      h(
        "span",
        { class: "sending" },
        pending.refused ? "Not sent" : pending.failed ? "Not sent yet" : "Sending…",
      ),
    ),
    h("p", { class: "message-text" }, pending.text),
    (pending.attachments || []).length
      ? h("p", { class: "pending-files" }, `${pending.attachments.length} file(s)`)
      : null,
    pending.failed
      ? h(
          "p",
          { class: "form-error" },
          `${pending.failed} `,
          h(
            "button",
            { type: "button", onclick: () => retryReply(id, clientId) },
            pending.refused ? "Retry" : "Send now",
          ),
          h(
            "button",
            { type: "button", class: "ghost", onclick: () => discardReply(id, clientId) },
            "Discard",
          ),
        )
      : null,
  );
}
