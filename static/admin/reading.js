// Read markers. The server keeps how far each agent has read each conversation: the unread
// badges of a reload and of the agent's other tabs come from it. The page tells it once when a
// conversation is shown and, while the agent watches, once more when new messages stop coming
// (visitors often send several lines in a row): never once per message.

import { post } from "./api.js";
import { getState, set } from "./store.js";

const SETTLE_MS = 750;
// A conversation that never goes quiet for SETTLE_MS is still marked this often.
const MAX_WAIT_MS = 5_000;

let owed = null; // {id, since, timer}: messages the agent saw that the server has not heard of
let unseen = null; // the conversation shown while the tab was hidden, read when it is seen

/** Drop the marks still to send (signing out: nothing more is sent for this session). */
export function forgetReads() {
  if (owed) clearTimeout(owed.timer);
  owed = null;
  unseen = null;
}

/** The agent has seen conversation `id` up to now: clear its badge, and tell the server now. */
function markRead(id) {
  if (owed && owed.id === id) {
    clearTimeout(owed.timer);
    owed = null;
  }
  if (unseen === id) unseen = null;
  const { conversations } = getState();
  const conversation = conversations.get(id);
  if (conversation && conversation.unread) {
    conversation.unread = 0;
    set({ conversations });
  }
  post(`/api/v1/conversations/${id}/read`).catch(() => {});
}

/** Conversation `id` is shown, its transcript loaded: read now, or when the tab is next seen. */
export function markShown(id) {
  if (getState().openId !== id) return;
  if (document.visibilityState === "visible") markRead(id);
  else unseen = id;
}

/** A visitor's message came into the conversation the agent watches: read once they settle. */
export function markReadSoon(id) {
  if (owed && owed.id !== id) markRead(owed.id); // the conversation left behind, now
  if (!owed) owed = { id, since: Date.now(), timer: 0 };
  clearTimeout(owed.timer);
  const wait = Math.min(SETTLE_MS, Math.max(0, owed.since + MAX_WAIT_MS - Date.now()));
  owed.timer = setTimeout(() => markRead(id), wait);
}

/** The tab is seen again: the open conversation is read if anything came while it was not. */
export function markOnReturn() {
  const { openId, conversations } = getState();
  if (!openId || document.visibilityState !== "visible") return;
  const conversation = conversations.get(openId);
  if (unseen === openId || (conversation && conversation.unread > 0)) markRead(openId);
  unseen = null;
}

/** Another tab of this agent read a conversation up to `seq`. */
export function applyRead(frame) {
  const conversation = getState().conversations.get(frame.conversation_id);
  if (conversation && conversation.unread && frame.seq >= conversation.last_seq) {
    conversation.unread = 0;
    set({ conversations: getState().conversations });
  }
}
