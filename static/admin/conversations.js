// The inbox's data: active conversations loaded over HTTP, kept current by socket events.

import { get } from "./api.js";
import { hasLabel } from "./labels.js";
import { markReadSoon } from "./reading.js";
import { getState, set } from "./store.js";

const PAGE = 100;
// Open and escalated conversations are all held in memory (counts, live updates); past this
// many the inbox shows the newest and says so.
const ACTIVE_CAP = 2000;

// "active" (everyone not closed, waited longest first) is where staff land: an escalated chat
// must never drop out of sight.
export const VIEW_TITLES = {
  active: "Waiting",
  open: "Open",
  escalated: "Escalated",
  mine: "Mine",
  unassigned: "Unassigned",
  closed: "Closed",
};

let touched = null; // ids changed by events while a reload is in flight

function isStale(incoming, known) {
  return (
    known &&
    (known.last_seq > incoming.last_seq ||
      (known.last_seq === incoming.last_seq && known.updated_at > incoming.updated_at))
  );
}

/** Store a conversation snapshot unless we already hold a newer one; returns what is held. */
export function merge(conversation) {
  const map = getState().conversations;
  const known = map.get(conversation.id);
  if (isStale(conversation, known)) return known;
  // Event snapshots carry no last_message or unread: keep the ones we have.
  const merged = { ...known, ...conversation };
  // The conversation on screen is read (its marker was posted when shown): a list loaded
  // meanwhile must not bring its badge back.
  const state = getState();
  if (state.openId === conversation.id && document.visibilityState === "visible") {
    merged.unread = 0;
  }
  map.set(conversation.id, merged);
  return merged;
}

/** Whether `message` should replace `current` as a row's preview: the newest words of a
 * person; an automatic text only when there is nothing else. */
function newerPreview(current, message) {
  if (!current) return true;
  if (message.sender === "system" && current.sender !== "system") return false;
  return current.seq < message.seq;
}

async function fetchPages(params, cap) {
  const found = [];
  let before = null;
  do {
    const query = new URLSearchParams({ ...params, limit: String(PAGE) });
    if (before) query.set("before", before);
    const page = await get(`/api/v1/conversations?${query}`);
    found.push(...(page.conversations || []));
    before = page.next;
  } while (before && found.length < cap);
  return { found, next: before };
}

/** (Re)load every open and escalated conversation; called after (re)connecting fresh. */
export async function loadActive() {
  touched = new Set();
  try {
    const active = await fetchPages({ status: "active" }, ACTIVE_CAP);
    const map = getState().conversations;
    const seen = new Set();
    for (const conversation of active.found) {
      merge(conversation);
      seen.add(conversation.id);
    }
    // Closed (or gone) while we were away, unless an event told us more since we asked.
    for (const [id, conversation] of map) {
      if (!seen.has(id) && !touched.has(id) && conversation.status !== "closed") map.delete(id);
    }
    set({
      conversations: map,
      activeLoaded: true,
      activeError: null,
      activeTruncated: Boolean(active.next),
    });
  } catch (error) {
    set({ activeError: `The inbox did not load: ${error.message}` });
    throw error;
  } finally {
    touched = null;
  }
}

/** Load the first (or, with `more`, the next) page of closed conversations. */
export async function loadClosed(more = false) {
  const cursor = more ? getState().closedNext : null;
  if (more && !cursor) return;
  const params = { status: "closed", limit: "50" };
  if (cursor) params.before = cursor;
  // With a label filter, the server's pages hold only that label's conversations.
  if (getState().labelFilter) params.label = getState().labelFilter;
  const page = await get(`/api/v1/conversations?${new URLSearchParams(params)}`);
  for (const conversation of page.conversations || []) merge(conversation);
  set({ conversations: getState().conversations, closedNext: page.next || null });
}

/** Search every conversation (any status) on the server; results replace the view's list. */
export async function search(query) {
  set({ search: { query, ids: [], loading: true } });
  const params = new URLSearchParams({ status: "all", q: query, limit: String(PAGE) });
  try {
    const page = await get(`/api/v1/conversations?${params}`);
    const ids = (page.conversations || []).map((conversation) => merge(conversation).id);
    if (getState().search && getState().search.query === query) {
      set({ conversations: getState().conversations, search: { query, ids, loading: false } });
    }
  } catch (error) {
    if (getState().search && getState().search.query === query) {
      set({ search: { query, ids: [], loading: false, error: error.message } });
    }
  }
}

/**
 * Apply a socket event to the store. Returns what happened for notifications:
 * {kind: "conversation" | "update" | "message" | "message-update" | "followup" |
 * "followup-update" | "other", conversation?, message?, followup?}.
 */
export function applyEvent(frame) {
  const data = frame.data || {};
  const map = getState().conversations;
  if (data.conversation && touched) touched.add(data.conversation.id);
  if (frame.event === "conversation.created" || frame.event === "conversation.updated") {
    const before = map.get(data.conversation.id);
    const conversation = merge(data.conversation);
    set({ conversations: map });
    return {
      kind: frame.event === "conversation.created" ? "conversation" : "update",
      conversation,
      escalated:
        conversation.status === "escalated" && (!before || before.status !== "escalated"),
    };
  }
  if (frame.event === "message.created") {
    const { message } = data;
    const conversation = data.conversation
      ? merge(data.conversation)
      : map.get(message.conversation_id);
    if (!conversation) return { kind: "message", message };
    if (newerPreview(conversation.last_message, message)) conversation.last_message = message;
    const state = getState();
    const watching = state.openId === conversation.id && document.visibilityState === "visible";
    if (message.sender === "visitor" && !watching) {
      conversation.unread = (conversation.unread || 0) + 1;
    }
    set({ conversations: map });
    if (message.sender === "visitor" && watching) markReadSoon(conversation.id);
    return { kind: "message", conversation, message };
  }
  if (frame.event === "message.updated") {
    // An SMS/WhatsApp text's delivery moved on: the message is replaced, nobody is alerted.
    const { message } = data;
    const conversation = data.conversation
      ? merge(data.conversation)
      : map.get(message.conversation_id);
    if (conversation && conversation.last_message && conversation.last_message.id === message.id) {
      conversation.last_message = message;
      set({ conversations: map });
    }
    return { kind: "message-update", conversation, message };
  }
  if (frame.event === "followup.created") {
    set({ followupsNew: getState().followupsNew + 1, followupsChanged: Date.now() });
    return { kind: "followup", followup: data.followup };
  }
  if (frame.event === "followup.updated") {
    set({ followupsChanged: Date.now() });
    return { kind: "followup-update", followup: data.followup };
  }
  return { kind: "other" };
}

export function inView(conversation, view, me) {
  const active = conversation.status !== "closed";
  switch (view) {
    case "active":
      return active;
    case "open":
      return conversation.status === "open";
    case "escalated":
      return conversation.status === "escalated";
    case "mine":
      return active && Boolean(conversation.assignee) && conversation.assignee.id === me.id;
    case "unassigned":
      return active && !conversation.assignee;
    case "closed":
      return !active;
    default:
      return false;
  }
}

function newestFirst(a, b) {
  return (b.updated_at || "").localeCompare(a.updated_at || "") || b.id - a.id;
}

// The server's order for the active view: waiting longest first, then the answered ones.
const NOBODY_WAITING = "~";
function longestWaitingFirst(a, b) {
  const waitA = a.waiting_since || NOBODY_WAITING;
  const waitB = b.waiting_since || NOBODY_WAITING;
  return waitA.localeCompare(waitB) || newestFirst(a, b);
}

/**
 * The conversations the list shows now: search results, or the current view's members; with a
 * label filter, only those carrying the label.
 */
export function visibleList() {
  const state = getState();
  const label = state.labelFilter;
  const labelled = (conversation) => !label || hasLabel(conversation, label);
  if (state.search) {
    return state.search.ids
      .map((id) => state.conversations.get(id))
      .filter((conversation) => conversation && labelled(conversation));
  }
  const list = [];
  for (const conversation of state.conversations.values()) {
    if (inView(conversation, state.route.view, state.me) && labelled(conversation)) {
      list.push(conversation);
    }
  }
  return list.sort(state.route.view === "active" ? longestWaitingFirst : newestFirst);
}

export function counts() {
  const state = getState();
  const result = { active: 0, open: 0, escalated: 0, mine: 0, unassigned: 0 };
  for (const conversation of state.conversations.values()) {
    for (const view of Object.keys(result)) {
      if (inView(conversation, view, state.me)) result[view] += 1;
    }
  }
  return result;
}

/** How many active conversations have messages the agent has not seen (the title counter). */
export function unreadConversations() {
  let count = 0;
  for (const conversation of getState().conversations.values()) {
    if (conversation.status !== "closed" && conversation.unread > 0) count += 1;
  }
  return count;
}

export function visitorName(conversation) {
  const visitor = conversation.visitor || {};
  return visitor.name || visitor.email || visitor.phone || `Visitor ${visitor.id ?? ""}`.trim();
}
