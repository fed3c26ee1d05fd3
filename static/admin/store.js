// The page's one store: plain state, and listeners told which keys changed.

/** The state of a page nobody is signed in to: at the start, and again after signing out. */
function initialState() {
  return {
    me: null, // the signed-in user (from /auth/me or the login answer)
    route: { screen: "inbox", view: "active", id: null },
    // id -> conversation (+ last_message, unread); the active ones are all loaded
    conversations: new Map(),
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
    staff: null, // [{id, name, email}] of enabled users to assign to; [] when we may not list them
    connection: "connecting", // connecting | live | offline
    labels: null, // the tenant's labels [{id, name, color}] once loaded
    labelFilter: null, // the inbox's label filter (a name), mirrored in the URL's ?label=
  };
}

const state = initialState();

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

/**
 * Forget everything the signed-in session held (on signing out), telling listeners. The route
 * stays: it is the URL's, and the next sign-in starts from it.
 */
export function resetState() {
  const fresh = initialState();
  delete fresh.route;
  set(fresh);
}
