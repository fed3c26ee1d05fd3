// The open conversation's messages: loaded over HTTP, extended by events, replies sent with a
// client id so a retry after a failure never stores the reply twice.

import { get, post } from "./api.js";
import { deliveryFailed } from "./channels.js";
import { merge } from "./conversations.js";
import { randomId } from "./dom.js";
import { getState, set } from "./store.js";

const PAGE = 500;

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
  const fresh = {
    id,
    messages: [],
    pending: [], // replies still being sent, or failed to reach the server
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
    if (message.client_id) {
      transcript.pending = transcript.pending.filter((p) => p.client_id !== message.client_id);
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

/** Send a reply or private note; it shows as pending until stored, failed with a retry after. */
export function sendReply(id, text, isPrivate) {
  const transcript = current(id);
  if (!transcript) return;
  const pending = { client_id: randomId(), text, private: isPrivate, failed: null };
  transcript.pending.push(pending);
  changed();
  deliver(id, pending);
}

export function retryReply(id, clientId) {
  const transcript = current(id);
  const pending = transcript && transcript.pending.find((p) => p.client_id === clientId);
  if (!pending) return;
  pending.failed = null;
  changed();
  deliver(id, pending);
}

export function discardReply(id, clientId) {
  const transcript = current(id);
  if (!transcript) return;
  transcript.pending = transcript.pending.filter((p) => p.client_id !== clientId);
  changed();
}

async function deliver(id, pending) {
  try {
    const { message } = await post(`/api/v1/conversations/${id}/messages`, {
      client_id: pending.client_id,
      text: pending.text,
      private: pending.private,
    });
    const transcript = current(id);
    if (transcript) {
      add(transcript, [message]);
      changed();
    }
  } catch (error) {
    pending.failed = error.message;
    changed();
  }
}
