// The inbox: views with counts, search, the conversation list, and the conversation pane.
// The Follow-ups view shares the sidebar and replaces the list and pane.

import {
  counts,
  inView,
  loadClosed,
  search,
  VIEW_TITLES,
  visibleList,
  visitorName,
} from "./conversations.js";
import { channelLabel, deliveryFailed } from "./channels.js";
import { mountConversation } from "./conversation.js";
import { age, h, setClasses } from "./dom.js";
import { mountFollowups } from "./followups.js";
import { keyedList } from "./keyed.js";
import { chip, labelColor, labelFromUrl, labelToUrl, loadLabels } from "./labels.js";
import { markShown } from "./reading.js";
import { getState, set, subscribe } from "./store.js";
import { closeTranscript, openTranscript } from "./transcript.js";

const TICK_MS = 30_000;
const SEARCH_DELAY_MS = 300;

function waiting(conversation, now) {
  if (conversation.status === "closed") return "";
  // Since the visitor's oldest unanswered message: automatic texts neither reset nor hide it.
  return conversation.waiting_since ? age(conversation.waiting_since, now) : "";
}

function preview(conversation, me) {
  const last = conversation.last_message;
  if (!last) return "No messages yet";
  const who =
    last.sender === "visitor"
      ? ""
      : last.sender === "system"
        ? "System: "
        : last.author && last.author.id === me.id
          ? "You: "
          : `${(last.author && last.author.name) || "Agent"}: `;
  return `${last.private ? "Note, " : ""}${who}${last.text}`;
}

/** What a conversation's row shows, as plain values: the row is drawn again when they change. */
function rowModel(conversation, state, now) {
  return {
    selected: state.route.id === conversation.id,
    unread: conversation.unread || 0,
    name: visitorName(conversation),
    verified: Boolean(conversation.visitor && conversation.visitor.verified),
    channel: conversation.channel || "web",
    // The newest message is a text that did not reach the contact's phone.
    notDelivered: Boolean(deliveryFailed(conversation.last_message)),
    status: conversation.status,
    assignee: conversation.assignee ? conversation.assignee.name : "Unassigned",
    since: waiting(conversation, now),
    preview: preview(conversation, state.me),
    labels: (conversation.labels || []).map((name) => [name, labelColor(name)]),
  };
}

function createRow(conversation) {
  const id = String(conversation.id);
  return h("li", {}, h("a", { href: `/admin/conversations/${id}`, dataset: { id } }));
}

/** Draw a row's link from its model; the link itself stays, so it keeps focus and identity. */
function drawRow(element, row) {
  const link = element.firstChild;
  setClasses(link, ["row", row.selected && "selected", row.unread && "unread"]);
  if (row.selected) link.setAttribute("aria-current", "true");
  else link.removeAttribute("aria-current");
  link.classList.toggle("escalated", row.status === "escalated");
  link.replaceChildren(
    h(
      "span",
      { class: "row-top" },
      h("span", { class: "row-name" }, row.name),
      row.status === "escalated"
        ? h("span", { class: "badge escalated", title: "Escalated: waiting too long" }, "Escalated")
        : null,
      row.verified
        ? h("span", { class: "badge verified", title: "Verified visitor" }, "Verified")
        : null,
      row.unread
        ? h("span", { class: "badge unread", title: `${row.unread} unread` }, String(row.unread))
        : null,
    ),
    h(
      "span",
      { class: "row-meta" },
      h("span", { class: `tag channel ${row.channel}` }, channelLabel(row.channel)),
      row.notDelivered ? h("span", { class: "tag not-delivered" }, "Not delivered") : null,
      row.status === "closed" ? h("span", { class: "tag closed" }, "closed") : null,
      h("span", { class: "row-assignee" }, row.assignee),
      row.since
        ? h("span", { class: "waiting", title: "Waiting for an answer" }, `waiting ${row.since}`)
        : null,
    ),
    h("span", { class: "row-preview" }, row.preview),
    row.labels.length
      ? h(
          "span",
          { class: "row-labels" },
          h("span", { class: "visually-hidden" }, "Labels:"),
          row.labels.map(([name, color]) => chip(name, color)),
        )
      : "", // replaceChildren, unlike h(), would write null out as text
  );
}

/** A conversation opened from a link shows in the list, among its neighbours for j/k. */
function showItsView(id) {
  const state = getState();
  const conversation = state.conversations.get(id);
  if (!conversation || state.search || state.route.id !== id) return;
  if (!inView(conversation, state.route.view, state.me)) {
    const view = conversation.status === "closed" ? "closed" : "active";
    set({ route: { ...state.route, view } });
  }
}

export function mountInbox(container, services) {
  const viewLinks = Object.entries(VIEW_TITLES).map(([view, title]) => {
    const count = h("span", { class: "count" });
    const link = h(
      "a",
      { href: `/admin/inbox/${view}`, class: "view-link" },
      h("span", {}, title),
      count,
    );
    return { view, link, count };
  });
  const followupBadge = h("span", { class: "count" });
  const followupLink = h(
    "a",
    { href: "/admin/followups", class: "view-link" },
    h("span", {}, "Follow-ups"),
    followupBadge,
  );
  const searchInput = h("input", {
    type: "search",
    name: "q",
    placeholder: "Search name, email, text…",
    "aria-label": "Search conversations",
    autocomplete: "off",
  });
  const labelSelect = h("select", { name: "label", "aria-label": "Filter by label" });
  const listTitle = h("h2", { class: "list-title" });
  // It scrolls on its own: focusable, so keyboard users can scroll it too.
  const list = h("ul", { class: "conversation-list", "aria-label": "Conversations", tabIndex: 0 });
  const rows = keyedList(list, {
    key: (conversation) => conversation.id,
    create: createRow,
    draw: drawRow,
  });
  const empty = h("p", { class: "empty" });
  const more = h(
    "button",
    { type: "button", class: "more", onclick: () => loadClosed(true) },
    "Load more",
  );
  const listSection = h(
    "section",
    { class: "list-column", "aria-labelledby": "list-title" },
    h("form", { class: "search", role: "search" }, searchInput),
    h("div", { class: "label-filter" }, labelSelect),
    listTitle,
    empty,
    list,
    more,
  );
  listTitle.id = "list-title";
  const paneHost = h("div", { class: "pane-host" });
  const followupHost = h("div", { class: "followup-host" });
  const sidebar = h(
    "nav",
    { class: "views", "aria-label": "Inbox views" },
    viewLinks.map((item) => item.link),
    followupLink,
    h("p", { class: "shortcuts-hint" }, "Keys: j / k next and previous, r reply, / search"),
  );
  // The one h1 of the screen (the list and the pane have h2s); hidden, the layout says it.
  const heading = h("h1", { class: "visually-hidden" }, "Inbox");
  const layout = h(
    "div",
    { class: "inbox" },
    heading,
    sidebar,
    listSection,
    paneHost,
    followupHost,
  );
  container.replaceChildren(layout);
  const pane = mountConversation(paneHost, services);
  let followups = null;
  let searchTimer = 0;
  let closedLoadedFor = null;
  const askedFor = new Set(); // label names seen on conversations that made us reload labels

  set({ labelFilter: labelFromUrl() });
  loadLabels().catch(() => {});
  labelSelect.addEventListener("change", () => {
    set({ labelFilter: labelSelect.value || null });
    labelToUrl(getState().labelFilter);
    if (getState().route.view === "closed") {
      closedLoadedFor = "closed";
      loadClosed().catch(() => {
        closedLoadedFor = null;
      });
    }
  });

  function renderLabelFilter(state) {
    const names = (state.labels || []).map((label) => label.name);
    // A filter from a link may name a label deleted since: it stays choosable (and matches none).
    if (state.labelFilter && !names.some((n) => n.toLowerCase() === state.labelFilter.toLowerCase())) {
      names.push(state.labelFilter);
    }
    labelSelect.replaceChildren(
      h("option", { value: "" }, "All labels"),
      ...names.map((name) => h("option", { value: name }, name)),
    );
    const chosen = names.find(
      (name) => state.labelFilter && name.toLowerCase() === state.labelFilter.toLowerCase(),
    );
    labelSelect.value = chosen || "";
    labelSelect.closest(".label-filter").hidden = !names.length;
  }

  /** A label on a conversation that we do not know (added since we loaded): reload the list. */
  function learnLabels(state) {
    if (!state.labels) return;
    for (const conversation of state.conversations.values()) {
      for (const name of conversation.labels || []) {
        if (labelColor(name) === null && !askedFor.has(name)) {
          askedFor.add(name);
          loadLabels().catch(() => {});
        }
      }
    }
  }
  let shownId = null; // the conversation of the route, to return focus to its row

  searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, SEARCH_DELAY_MS);
  });
  searchInput.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      searchInput.value = "";
      runSearch();
    }
  });
  listSection.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    runSearch();
  });
  function runSearch() {
    const query = searchInput.value.trim();
    if (!query) set({ search: null });
    else if (!getState().search || getState().search.query !== query) search(query);
  }

  function renderSidebar(state) {
    const numbers = counts();
    for (const item of viewLinks) {
      const current =
        state.route.screen === "inbox" && state.route.view === item.view && !state.search;
      item.link.classList.toggle("current", current);
      if (current) item.link.setAttribute("aria-current", "page");
      else item.link.removeAttribute("aria-current");
      item.count.textContent =
        item.view in numbers && state.activeLoaded ? String(numbers[item.view]) : "";
    }
    const onFollowups = state.route.screen === "followups";
    followupLink.classList.toggle("current", onFollowups);
    if (onFollowups) followupLink.setAttribute("aria-current", "page");
    else followupLink.removeAttribute("aria-current");
    followupBadge.textContent = state.followupsNew
      ? `${state.followupsNew}${state.followupsMore ? "+" : ""}`
      : "";
    followupBadge.classList.toggle("fresh", state.followupsNew > 0);
  }

  function renderList(state) {
    const conversations = visibleList();
    const now = Date.now();
    rows.render(conversations, (conversation) => rowModel(conversation, state, now));
    if (state.search) {
      listTitle.textContent = `Search: ${state.search.query}`;
      empty.textContent = state.search.loading
        ? "Searching…"
        : state.search.error || (conversations.length ? "" : "Nothing matches.");
    } else {
      listTitle.textContent = state.labelFilter
        ? `${VIEW_TITLES[state.route.view]}, label ${state.labelFilter}`
        : VIEW_TITLES[state.route.view];
      empty.textContent = state.activeError
        ? `${state.activeError} Retrying…`
        : !state.activeLoaded
          ? "Loading…"
          : conversations.length
            ? ""
            : "No conversations here.";
      if (state.activeTruncated && state.route.view !== "closed") {
        empty.textContent = "Showing the newest conversations only; search to find others.";
      }
    }
    more.hidden = !(state.route.view === "closed" && state.closedNext && !state.search);
  }

  function renderScreen(state) {
    const onFollowups = state.route.screen === "followups";
    layout.classList.toggle("showing-followups", onFollowups);
    layout.classList.toggle("has-open", Boolean(state.route.id));
    if (onFollowups && !followups) followups = mountFollowups(followupHost);
    if (!onFollowups && followups) {
      followups.destroy();
      followups = null;
      followupHost.replaceChildren();
    }
    const id = onFollowups ? null : state.route.id;
    if (!id && shownId) returnFocus(shownId);
    shownId = id;
    if (id && id !== state.openId) {
      openTranscript(id).then(() => {
        markShown(id);
        showItsView(id);
      });
    } else if (!id && state.openId) closeTranscript();
    if (state.route.view === "closed" && closedLoadedFor !== "closed" && !onFollowups) {
      closedLoadedFor = "closed";
      loadClosed().catch(() => {
        closedLoadedFor = null;
      });
    }
  }

  /**
   * Back to the list (on a phone, the pane was the whole screen): focus goes to the row of the
   * conversation just left, if the focus was in the pane that is now hidden.
   */
  function returnFocus(id) {
    const active = document.activeElement;
    if (active && active !== document.body && !paneHost.contains(active)) return;
    requestAnimationFrame(() => {
      const link = list.querySelector(`a[data-id="${id}"]`);
      if (link && link.offsetParent) link.focus();
      else list.focus();
    });
  }

  function render(state, changed) {
    if (changed.has("route")) {
      renderScreen(state);
      // Moving between views pushes a bare path: the label filter follows into the new URL.
      if (state.route.screen === "inbox") labelToUrl(state.labelFilter);
    }
    renderSidebar(state);
    if (changed.has("labels") || changed.has("labelFilter")) renderLabelFilter(state);
    if (changed.has("conversations") || changed.has("labels")) learnLabels(state);
    if (
      [
        "route",
        "conversations",
        "search",
        "activeLoaded",
        "activeError",
        "closedNext",
        "me",
        "labels",
        "labelFilter",
      ].some((k) => changed.has(k))
    ) {
      renderList(state);
    }
  }

  const all = new Set(["route", "conversations", "me", "labels", "labelFilter"]);
  render(getState(), all);
  const unsubscribe = subscribe(render);
  const ticker = setInterval(() => renderList(getState()), TICK_MS);
  return {
    destroy() {
      clearInterval(ticker);
      clearTimeout(searchTimer);
      unsubscribe();
      pane.destroy();
      if (followups) followups.destroy();
      closeTranscript();
    },
    /** Reload what the screen shows after a fresh (re)connection. */
    reloadClosed() {
      closedLoadedFor = null;
      if (getState().route.view === "closed") renderScreen(getState());
    },
  };
}
