// The page's one store: plain state, and listeners told which keys changed.

const state = {
  me: null, // the signed-in user (from /auth/me or the login answer)
  route: { screen: "inbox", view: "open", id: null },
  conversations: new Map(), // id -> conversation (+ last_message, unread), active ones all loaded
  activeLoaded: false,
  activeTruncated: false, // more active conversations than the inbox holds
  activeError: null, // why the last load of the inbox failed
  closedNext: null, // cursor of the next page of closed conversations, when there is one
  search: null, // {query, ids, loading} while a search is shown instead of the view
  openId: null, // the conversation shown in the pane
  typing: new Map(), // conversation id -> {by, userId, until}
  seen: new Map(), // conversation id -> the seq the visitor has read up to
  followupsNew: 0,
  followupsMore: false, // more new follow-ups than one page holds
  followupsChanged: 0, // bumped when an event brings a follow-up, so its screen reloads
  // {id, messages, pending, held, retries, loading, error} of the open conversation
  transcript: null,
  channels: null, // GET /api/v1/channels ({twilio}), or {error} when it failed to load
  connection: "connecting", // connecting | live | offline
};

const listeners = new Set();

export function getState() {
  return state;
}

/** Merge `patch` into the state and tell listeners which keys it named. */
export function set(patch) {
  Object.assign(state, patch);
  const changed = new Set(Object.keys(patch));
  for (const listener of [...listeners]) listener(state, changed);
}

/** Call `listener(state, changedKeys)` on every change; returns the unsubscribe function. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
