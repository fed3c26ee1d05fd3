// Who is online: the team's users with their availability and presence, loaded once per
// session and kept current by the socket's presence frames; and the signed-in user's switch.

import { get, patch } from "./api.js";
import { getState, set } from "./store.js";

let loading = null;

/** The enabled users of the team (loaded once per session into the store's `staff`). */
export async function loadStaff() {
  const { me, staff: known } = getState();
  if (known) return known;
  if (!loading) {
    loading = get("/api/v1/users")
      .then(({ users }) => (users || []).filter((user) => !user.disabled))
      .catch(() => []) // without the list, agents still claim and release
      .finally(() => {
        loading = null;
      });
  }
  const staff = await loading;
  // Not for whoever signed in since we asked, nor for a role changed meanwhile.
  if (getState().me === me) set({ staff });
  return staff;
}

/** Ask again for the team (after a reconnect the presence we hold may be stale). */
export function reloadStaff() {
  set({ staff: null });
  return loadStaff();
}

/** Apply `{"type": "presence", "user_id", "availability", "online"}` from the socket. */
export function applyPresence(frame) {
  const { me, staff } = getState();
  const change = { availability: frame.availability, online: frame.online };
  const patchState = {};
  if (staff && staff.some((user) => user.id === frame.user_id)) {
    patchState.staff = staff.map((user) =>
      user.id === frame.user_id ? { ...user, ...change } : user,
    );
  }
  if (me && me.id === frame.user_id) patchState.me = { ...me, ...change };
  if (Object.keys(patchState).length) set(patchState);
}

/** Set the signed-in user's switch ("online" | "away"); resolves to the stored user. */
export async function setAvailability(availability) {
  const { user } = await patch("/api/v1/auth/me", { availability });
  const me = getState().me;
  if (me && me.id === user.id) set({ me: { ...me, ...user } });
  return user;
}

/** "Online", "Away" or "Offline" (switch on but no admin page open). */
export function presenceLabel(user) {
  if (user.online) return "Online";
  return user.availability === "away" ? "Away" : "Offline";
}
