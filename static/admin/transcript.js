// The open conversation's messages: loaded over HTTP, extended by events, replies sent with a
// client id so a retry after a failure never stores the reply twice.

import { get, post } from "./api.js";
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
  set({ openId: id, transcript: { id, messages: [], pending: [], loading: true, error: null } });
  try {
    const [{ conversation }, messages] = await Promise.all([
      get(`/api/v1/conversations/${id}`),
      fetchAfter(id, 0),
    ]);
    merge(conversation);
    const transcript = current(id);
    if (!transcript) return;
    add(transcript, messages);
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
  for (const message of messages) {
    if (known.has(message.seq)) continue;
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
  if (!transcript || transcript.loading) return;
  const last = lastSeq(transcript);
  if (message.seq > last + 1) {
    const missing = await fetchAfter(transcript.id, last).catch(() => [message]);
    add(transcript, missing);
  } else {
    add(transcript, [message]);
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
