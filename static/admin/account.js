// The signed-in user's own account: who they are, and a password change.

import { h } from "./dom.js";
import { passwordForm } from "./login.js";
import { notifySettings } from "./push.js";
import { getState, set } from "./store.js";

export function mountAccount(host) {
  const me = getState().me;
  host.replaceChildren(
    h(
      "section",
      { class: "page narrow", "aria-labelledby": "account-title" },
      h("h1", { id: "account-title" }, "Your account"),
      h(
        "dl",
        { class: "card facts" },
        h("dt", {}, "Name"),
        h("dd", {}, me.name || ""),
        h("dt", {}, "Email"),
        h("dd", {}, me.email || ""),
        h("dt", {}, "Role"),
        h("dd", {}, me.role || ""),
      ),
      notifySettings(me, { onSaved: (user) => set({ me: { ...getState().me, ...user } }) }),
      passwordForm({ onDone: (user) => user && set({ me: { ...me, ...user } }) }),
    ),
  );
  return { destroy() {} };
}
