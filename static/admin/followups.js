// Follow-ups: contact requests visitors left when nobody answered; mark viewed, archive.

import { get, post } from "./api.js";
import { clock, emailLink, h, setClasses } from "./dom.js";
import { keyedList } from "./keyed.js";
import { set, subscribe } from "./store.js";

const PAGE = 200;
const STATUSES = [
  ["new", "New"],
  ["viewed", "Viewed"],
  ["archived", "Archived"],
];

function countNew(page) {
  // Past a page the badge says "200+": an exact number that large would not change what to do.
  set({ followupsNew: (page.followups || []).length, followupsMore: Boolean(page.next) });
}

/** Refresh the count of new follow-ups (the badge). */
export async function loadFollowupCount() {
  countNew(await get(`/api/v1/followups?status=new&limit=${PAGE}`));
}

/** Draw a follow-up's card into `element` (an li kept while the follow-up is listed). */
function drawCard(element, followup, act) {
  setClasses(element, ["card", "followup", followup.status === "new" && "fresh"]);
  element.replaceChildren(
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
      followup.email ? [h("dt", {}, "Email"), h("dd", {}, emailLink(followup.email))] : null,
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
  let next = null;
  const olderButton = h(
    "button",
    { type: "button", class: "more", hidden: true, onclick: () => load(true) },
    "Load older",
  );
  const tabs = STATUSES.map(([value, label]) =>
    h("button", { type: "button", class: "tab", onclick: () => show(value) }, label),
  );
  const list = h("ul", { class: "followup-list", "aria-label": "Follow-ups" });
  // Reloaded on every follow-up event: keep the cards (and the focus) of those that stayed.
  const cards = keyedList(list, {
    key: (followup) => followup.id,
    create: () => h("li"),
    draw: (element, followup) => drawCard(element, followup, act),
  });
  let shown = []; // the follow-ups listed, newest first
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
      olderButton,
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

  async function load(more = false) {
    const asked = status;
    const query = new URLSearchParams({ status: asked, limit: String(PAGE) });
    if (more && next) query.set("before", next);
    try {
      const page = await get(`/api/v1/followups?${query}`);
      if (asked !== status) return;
      const found = page.followups || [];
      shown = more ? [...shown, ...found] : found;
      cards.render(shown, (followup) => followup);
      next = page.next || null;
      olderButton.hidden = !next;
      notice.textContent = shown.length ? "" : `No ${asked} follow-ups.`;
      if (asked === "new" && !more) countNew(page);
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
