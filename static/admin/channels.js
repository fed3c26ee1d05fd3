// Channels: how each is named on the page, and whether texting (SMS and WhatsApp through
// Twilio) is on, from GET /api/v1/channels, kept in the store for the screens that show it.

import { get } from "./api.js";
import { getState, set } from "./store.js";

const LABELS = { web: "Web", sms: "SMS", whatsapp: "WhatsApp" };
// The server's settings change only with a restart; a minute old is fresh enough.
const MAX_AGE_MS = 60_000;

let loadedAt = 0;
let loading = null;

export function channelLabel(channel) {
  return LABELS[channel] || channel || LABELS.web;
}

export function isTexted(conversation) {
  return (
    Boolean(conversation) && (conversation.channel === "sms" || conversation.channel === "whatsapp")
  );
}

/** The text did not reach the contact's phone (an agent may send it again). */
export function deliveryFailed(message) {
  const status = message && message.delivery && message.delivery.status;
  return status === "failed" || status === "undelivered";
}

/** Fetch the channel status into the store (`channels`: {twilio} or {error}) unless fresh. */
export function loadChannels({ force = false } = {}) {
  if (loading) return loading;
  if (!force && getState().channels && Date.now() - loadedAt < MAX_AGE_MS) {
    return Promise.resolve(getState().channels);
  }
  loading = get("/api/v1/channels")
    .then(
      (answer) => {
        loadedAt = Date.now();
        set({ channels: answer });
        return answer;
      },
      (error) => {
        // Kept for a while too, so screens that ask on every render do not hammer the server.
        loadedAt = Date.now();
        const failed = { error: `The channel status did not load: ${error.message}` };
        set({ channels: failed });
        return failed;
      },
    )
    .finally(() => {
      loading = null;
    });
  return loading;
}

/** What an agent in a texted conversation must know, as one sentence ("" when all is well). */
export function textingNotice(channels) {
  const twilio = channels && channels.twilio;
  if (!twilio) return "";
  if (!twilio.enabled) {
    return (
      "Texting is off on this server, so replies here are stored but not sent. " +
      `Missing settings: ${(twilio.missing || []).join(", ")}.`
    );
  }
  if (twilio.circuit && twilio.circuit !== "closed") {
    return "Sending texts is paused because Twilio keeps failing; replies wait and go out when it recovers.";
  }
  return "";
}
