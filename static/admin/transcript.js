// The open conversation's messages: loaded over HTTP, extended by events, replies sent with a
// client id so a retry after a failure never stores the reply twice. Replies wait in the durable
// outbox (outbox.js) until stored, and are sent again on reconnect and after a reload.

import { get, post } from "./api.js";
import { deliveryFailed } from "./channels.js";
import { merge } from "./conversations.js";
import { randomId } from "./dom.js";
import { drop, keep, kept } from "./outbox.js";
import { getState, set } from "./store.js";

const PAGE = 500;
const RESEND_FIRST_MS = 2_000;
const RESEND_MAX_MS = 15_000;
const WAITING = "Waiting for the connection; it is sent as soon as it is back.";

const inFlight = new Set(); // client ids being sent now
let resendTimer = 0;
let resendDelay = RESEND_FIRST_MS;
let lastAt = 0; // replies written in the same millisecond still keep the order they were typed in

function myId() {
  const me = getState().me;
  return me ? me.id : null;
}

function current(id) {
  const transcript = getState().transcript;
  return transcript && transcript.id === id ? transcript : null;
}

function changed() {
  set({ transcript: getState().transcript });
}

async function fetchAfter(id, after) {
  const found = [];
  for (;;) {
    const page = await get(`/api/v1/conversations/${id}/messages?after_seq=${after}&limit=${PAGE}`);
    const messages = page.messages || [];
    found.push(...messages);
    if (!page.more || !messages.length) return found;
    after = messages[messages.length - 1].seq;
  }
}

/** Show conversation `id`: its details and full transcript. */
export async function openTranscript(id) {
  const me = myId();
  const fresh = {
    id,
    messages: [],
    // replies still being sent, or failed to reach the server (kept ones from before a reload)
    pending: me === null ? [] : kept(me, id).map(fromOutbox),
    held: new Map(), // message id -> its newest version from an event, until it has its place
    retries: new Map(), // message id -> {busy, error} of a failed text being sent again
    loading: true,
    error: null,
  };
  set({ openId: id, transcript: fresh });
  try {
    const [{ conversation }, messages] = await Promise.all([
      get(`/api/v1/conversations/${id}`),
      fetchAfter(id, 0),
    ]);
    merge(conversation);
    const transcript = current(id);
    if (!transcript) return;
    // Events that came while loading are newer than or as new as the snapshot: they win.
    add(transcript, [...messages, ...transcript.held.values()]);
    transcript.held.clear();
    transcript.loading = false;
    set({ conversations: getState().conversations, transcript });
  } catch (error) {
    const transcript = current(id);
    if (!transcript) return;
    transcript.loading = false;
    transcript.error = error.status === 404 ? "No such conversation." : error.message;
    changed();
  }
}

export function closeTranscript() {
  set({ openId: null, transcript: null });
}

function lastSeq(transcript) {
  const { messages } = transcript;
  return messages.length ? messages[messages.length - 1].seq : 0;
}

function add(transcript, messages) {
  const known = new Set(transcript.messages.map((message) => message.seq));
  for (const arrived of messages) {
    if (known.has(arrived.seq)) continue;
    const message = transcript.held.get(arrived.id) || arrived;
    transcript.held.delete(arrived.id);
    known.add(message.seq);
    transcript.messages.push(message);
    if (message.client_id && transcript.pending.some((p) => p.client_id === message.client_id)) {
      transcript.pending = transcript.pending.filter((p) => p.client_id !== message.client_id);
      if (myId() !== null) drop(myId(), transcript.id, message.client_id);
    }
  }
  transcript.messages.sort((a, b) => a.seq - b.seq);
}

/** A message from an event: appended in order; a gap (missed seq) is filled over HTTP. */
export async function applyMessage(message) {
  const transcript = current(message.conversation_id);
  if (!transcript) return;
  if (transcript.loading) {
    transcript.held.set(message.id, message);
    return;
  }
  const last = lastSeq(transcript);
  if (message.seq > last + 1) {
    const missing = await fetchAfter(transcript.id, last).catch(() => [message]);
    add(transcript, missing);
  } else {
    add(transcript, [message]);
  }
  changed();
}

/**
 * A message changed (an SMS/WhatsApp text's delivery): it replaces the one held by id. Events
 * come in order, so the last one applied is the newest; one for a message not placed yet (still
 * loading, or its gap being filled) is held and used when the message arrives.
 */
export function updateMessage(message) {
  const transcript = current(message.conversation_id);
  if (!transcript) return;
  if (!replace(transcript, message)) {
    transcript.held.set(message.id, message);
    return;
  }
  changed();
}

function replace(transcript, message) {
  const { messages } = transcript;
  // Deliveries change on recent messages: look from the end.
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].id !== message.id) continue;
    messages[i] = message;
    const retry = transcript.retries.get(message.id);
    // An error from an earlier retry no longer applies once the text has moved on.
    if (retry && !retry.busy) transcript.retries.delete(message.id);
    return true;
  }
  return false;
}

/** Send a failed SMS/WhatsApp text again; the outcome shows next to it, never as a dialog. */
export async function retryText(id, messageId) {
  const transcript = current(id);
  if (!transcript || (transcript.retries.get(messageId) || {}).busy) return;
  transcript.retries.set(messageId, { busy: true, error: null });
  changed();
  let answer = null;
  let failure = null;
  try {
    answer = await post(`/api/v1/conversations/${id}/messages/${messageId}/retry`);
  } catch (error) {
    failure = error;
  }
  const now = current(id);
  if (!now) return;
  if (failure) {
    now.retries.set(messageId, { busy: false, error: `Not sent again: ${failure.message}` });
  } else {
    now.retries.delete(messageId);
    const shown = now.messages.find((message) => message.id === messageId);
    // The socket's message.updated usually came first; the answer only stands in for it.
    if (shown && deliveryFailed(shown)) replace(now, answer.message);
  }
  changed();
}

function fromOutbox(reply) {
  return { ...reply, failed: reply.refused };
}

/**
 * Send a reply or private note; it shows as pending until stored. It is kept in the outbox first,
 * so an outage or a reload meanwhile does not lose it.
 */
export function sendReply(id, text, isPrivate, files = []) {
  const transcript = current(id);
  if (!transcript || myId() === null) return;
  const pending = {
    client_id: randomId(),
    text,
    private: isPrivate,
    // Uploaded files' ids: they stay valid server-side for a day, so a kept reply keeps them.
    attachments: files,
    failed: null,
    refused: null,
    at: (lastAt = Math.max(Date.now(), lastAt + 1)),
  };
  keep(myId(), id, pending);
  transcript.pending.push(pending);
  changed();
  deliver(id, pending);
}

export function retryReply(id, clientId) {
  const transcript = current(id);
  const pending = transcript && transcript.pending.find((p) => p.client_id === clientId);
  if (!pending) return;
  pending.failed = null;
  if (pending.refused) {
    pending.refused = null;
    if (myId() !== null) keep(myId(), id, pending);
  }
  changed();
  deliver(id, pending);
}

export function discardReply(id, clientId) {
  const transcript = current(id);
  if (myId() !== null) drop(myId(), id, clientId);
  if (!transcript) return;
  transcript.pending = transcript.pending.filter((p) => p.client_id !== clientId);
  changed();
}

/**
 * Send every kept reply of the signed-in user again (all conversations, not only the open one):
 * on reconnecting, on the browser going online, and a while after a failure. Replies the server
 * refused (a closed conversation, say) wait for the agent's Retry or Discard instead.
 */
export function flushOutbox() {
  clearTimeout(resendTimer);
  resendTimer = 0;
  const me = myId();
  if (me === null) return;
  const transcript = getState().transcript;
  const byConversation = new Map();
  for (const reply of kept(me)) {
    if (reply.refused) continue;
    const shown =
      transcript && transcript.id === reply.conversation_id
        ? transcript.pending.find((p) => p.client_id === reply.client_id)
        : null;
    const queue = byConversation.get(reply.conversation_id) || [];
    queue.push(shown || fromOutbox(reply));
    byConversation.set(reply.conversation_id, queue);
  }
  for (const [id, queue] of byConversation) resendInOrder(id, queue);
}

/** One conversation's kept replies, one at a time, so they are stored in the order written. */
async function resendInOrder(id, queue) {
  for (const pending of queue) {
    if (!(await deliver(id, pending))) return;
  }
}

function resendLater() {
  if (resendTimer) return;
  resendTimer = setTimeout(flushOutbox, resendDelay);
  resendDelay = Math.min(RESEND_MAX_MS, resendDelay * 2);
}

/** A failure worth trying again by itself: the network, a busy or restarting server. */
function transient(error) {
  return !error.status || error.status >= 500 || error.status === 429 || error.status === 408;
}

/** Send one reply; true once the server has stored it. */
async function deliver(id, pending) {
  if (inFlight.has(pending.client_id)) return false;
  inFlight.add(pending.client_id);
  const me = myId();
  try {
    const { message } = await post(`/api/v1/conversations/${id}/messages`, {
      client_id: pending.client_id,
      text: pending.text,
      private: pending.private,
      attachments: pending.attachments || [],
    });
    resendDelay = RESEND_FIRST_MS;
    if (me !== null) drop(me, id, pending.client_id);
    const transcript = current(id);
    if (transcript) {
      add(transcript, [message]);
      changed();
    }
    return true;
  } catch (error) {
    if (transient(error)) {
      pending.failed = WAITING;
      resendLater();
    } else {
      pending.failed = error.message;
      pending.refused = error.message;
      if (me !== null && me === myId()) keep(me, id, pending);
    }
    if (current(id)) changed();
    return false;
  } finally {
    inFlight.delete(pending.client_id);
  }
}

window.addEventListener("online", flushOutbox);
