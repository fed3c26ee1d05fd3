// Follow-ups: contact requests visitors left when nobody answered; mark viewed, archive.

import { get, post } from "./api.js";
import { clock, h } from "./dom.js";
import { set, subscribe } from "./store.js";

const STATUSES = [
  ["new", "New"],
  ["viewed", "Viewed"],
  ["archived", "Archived"],
];

/** Refresh the count of new follow-ups (the badge). */
export async function loadFollowupCount() {
  const { followups } = await get("/api/v1/followups?status=new");
  set({ followupsNew: (followups || []).length });
}

function card(followup, act) {
  return h(
    "li",
    { class: ["card", "followup", followup.status === "new" && "fresh"] },
    h(
      "header",
      { class: "followup-head" },
      h("h3", {}, followup.name || "No name given"),
      h("time", { datetime: followup.created_at }, clock(followup.created_at)),
      h("span", { class: `tag ${followup.status}` }, followup.status),
    ),
    h(
      "dl",
      {},
      followup.email
        ? [
            h("dt", {}, "Email"),
            h("dd", {}, h("a", { href: `mailto:${followup.email}` }, followup.email)),
          ]
        : null,
      followup.phone
        ? [
            h("dt", {}, "Phone"),
            h("dd", {}, h("a", { href: `tel:${followup.phone}` }, followup.phone)),
          ]
        : null,
    ),
    h("p", { class: "message-text" }, followup.message || ""),
    h(
      "div",
      { class: "actions" },
      followup.conversation_id
        ? h("a", { href: `/admin/conversations/${followup.conversation_id}` }, "Open conversation")
        : null,
      followup.status === "new"
        ? h("button", { type: "button", onclick: () => act(followup, "view") }, "Mark viewed")
        : null,
      followup.status !== "archived"
        ? h("button", { type: "button", onclick: () => act(followup, "archive") }, "Archive")
        : null,
    ),
  );
}

export function mountFollowups(host) {
  let status = "new";
  const tabs = STATUSES.map(([value, label]) =>
    h("button", { type: "button", class: "tab", onclick: () => show(value) }, label),
  );
  const list = h("ul", { class: "followup-list", "aria-label": "Follow-ups" });
  const notice = h("p", { class: "empty", role: "status" });
  const error = h("p", { class: "form-error", role: "alert" });
  host.replaceChildren(
    h(
      "section",
      { class: "followups", "aria-labelledby": "followups-title" },
      h("h2", { id: "followups-title" }, "Follow-ups"),
      h("div", { class: "tabs", role: "group", "aria-label": "Follow-up status" }, tabs),
      error,
      notice,
      list,
    ),
  );

  async function act(followup, action) {
    error.textContent = "";
    try {
      await post(`/api/v1/followups/${followup.id}/${action}`);
      await Promise.all([load(), loadFollowupCount()]);
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  async function load() {
    const asked = status;
    try {
      const { followups } = await get(`/api/v1/followups?status=${asked}`);
      if (asked !== status) return;
      list.replaceChildren(...(followups || []).map((followup) => card(followup, act)));
      notice.textContent = followups && followups.length ? "" : `No ${asked} follow-ups.`;
      if (asked === "new") set({ followupsNew: (followups || []).length });
    } catch (failure) {
      notice.textContent = failure.message;
    }
  }

  function show(value) {
    status = value;
    tabs.forEach((tab, index) =>
      tab.setAttribute("aria-pressed", String(STATUSES[index][0] === value)),
    );
    notice.textContent = "Loading…";
    load();
  }

  show("new");
  const unsubscribe = subscribe((state, changed) => {
    if (changed.has("followupsChanged")) load();
  });
  return { destroy: unsubscribe };
}
