// The conversation pane's visitor details: who the visitor is (and whether the site vouched for
// it), their rating, where they are on the site, the pages they visited and their earlier
// conversations. Everything the visitor's page sent is shown as text; the one link made from it
// (the current page) is an http(s) URL opened with no referrer, opener or follow.

import { get } from "./api.js";
import { channelLabel } from "./channels.js";
import { visitorName } from "./conversations.js";
import { clock, emailLink, h } from "./dom.js";

// The pane shows this many pages at first; the rest (the server keeps 50) behind a button.
const PAGES_SHOWN = 10;
// Page frames can come quickly while a visitor clicks around: one refetch per burst.
const REFRESH_DELAY_MS = 300;
const SAFE_LINK = "noopener noreferrer nofollow";

function detail(label, value) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", {}, label), h("dd", {}, value)];
}

/** An http(s) URL as a link that leaks nothing to the page it opens; anything else as text. */
export function pageLink(url, text = url) {
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    return text;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return text;
  return h("a", { href: parsed.href, rel: SAFE_LINK, target: "_blank", class: "page-link" }, text);
}

function stars(score) {
  return h(
    "span",
    { class: "rating" },
    h("span", { class: "stars", "aria-hidden": "true" }, "★".repeat(score) + "☆".repeat(5 - score)),
    ` ${score} of 5`,
  );
}

/** "14:05 there" in the visitor's time zone, or "" when the zone is not one we know. */
function localTime(zone) {
  try {
    const time = new Date().toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
      timeZone: zone,
    });
    return `${zone} (${time} there)`;
  } catch {
    return zone;
  }
}

function browserText(context) {
  if (context.browser && context.os) return `${context.browser} on ${context.os}`;
  return context.browser || context.os || "";
}

/** The part of the details drawn from the conversation alone (redrawn on each change). */
export function detailsElement(conversation) {
  const visitor = conversation.visitor || {};
  const context = visitor.context || {};
  const rating = conversation.rating;
  const claimed = !visitor.verified && Boolean(visitor.name || visitor.email || visitor.phone);
  return h(
    "div",
    {},
    h(
      "h3",
      { class: "details-name" },
      visitorName(conversation),
      visitor.verified
        ? h("span", { class: "badge verified", title: "Identity verified by the site" }, "Verified")
        : null,
      claimed
        ? h(
            "span",
            { class: "badge claimed", title: "Typed by the visitor; the site did not verify it" },
            "Given by the visitor",
          )
        : null,
    ),
    h(
      "dl",
      {},
      detail("Email", visitor.email ? emailLink(visitor.email) : null),
      detail(
        "Phone",
        visitor.phone ? h("a", { href: `tel:${visitor.phone}` }, visitor.phone) : null,
      ),
      detail("Rating", rating ? stars(rating.score) : null),
      detail("Comment", rating && rating.comment ? h("q", {}, rating.comment) : null),
      detail("Channel", channelLabel(conversation.channel)),
      detail("Status", conversation.status),
      detail("Assignee", conversation.assignee ? conversation.assignee.name : "Unassigned"),
      detail("Started", clock(conversation.created_at)),
      detail("Last activity", clock(conversation.updated_at)),
      detail("Visitor id", String(visitor.id ?? "")),
      detail("Conversation", `#${conversation.id}`),
    ),
    contextElement(context),
  );
}

function contextElement(context) {
  const rows = [
    detail("Current page", context.url ? pageLink(context.url) : null),
    detail("Page title", context.title),
    detail("Came from", context.referrer),
    detail("Language", context.language),
    detail("Time zone", context.timezone ? localTime(context.timezone) : null),
    detail("Browser", browserText(context)),
  ].filter(Boolean);
  if (!rows.length) return null;
  return h(
    "section",
    { class: "details-section", "aria-labelledby": "details-context" },
    h("h4", { id: "details-context" }, "On the site"),
    h("dl", {}, rows),
  );
}

/**
 * The details that take a request each: pages visited and earlier conversations. Both load
 * only once the section is on screen (the details fold away on phones and scroll on laptops),
 * and again when the visitor's context (a page frame) or contact details change.
 * Returns {element, render(conversation), destroy()}.
 */
export function lazyDetails() {
  const pagesList = h("ol", { class: "details-list", "aria-labelledby": "details-pages" });
  const pagesNote = h("p", { class: "muted-text" });
  const morePages = h("button", { type: "button", class: "link-button", hidden: true });
  const relatedList = h("ul", { class: "details-list", "aria-labelledby": "details-related" });
  const relatedNote = h("p", { class: "muted-text" });
  const element = h(
    "div",
    { class: "lazy-details" },
    h(
      "section",
      { class: "details-section" },
      h("h4", { id: "details-pages" }, "Pages visited"),
      pagesNote,
      pagesList,
      morePages,
    ),
    h(
      "section",
      { class: "details-section" },
      h("h4", { id: "details-related" }, "Earlier conversations"),
      relatedNote,
      relatedList,
    ),
  );

  let shown = null; // the conversation the sections are for
  let visible = false;
  let pagesFor = null; // the context signature the pages were loaded for (null: not loaded)
  let relatedFor = null; // likewise, the contact signature for earlier conversations
  let pages = [];
  let allPages = false;
  let timer = 0;

  const observer = new IntersectionObserver((entries) => {
    visible = entries.some((entry) => entry.isIntersecting);
    if (visible) refresh();
  });
  observer.observe(element);

  function contextKey(conversation) {
    return `${conversation.id}|${JSON.stringify((conversation.visitor || {}).context || {})}`;
  }

  function contactKey(conversation) {
    const visitor = conversation.visitor || {};
    return `${conversation.id}|${visitor.email || ""}|${visitor.phone || ""}`;
  }

  async function loadPages(conversation, key) {
    pagesFor = key;
    if (!pages.length) pagesNote.textContent = "Loading…";
    try {
      const answer = await get(`/api/v1/conversations/${conversation.id}/pages`);
      if (pagesFor !== key) return;
      pages = answer.pages || [];
      drawPages();
    } catch (failure) {
      if (pagesFor !== key) return;
      pagesFor = null;
      pagesNote.textContent = `Pages did not load: ${failure.message}`;
    }
  }

  function drawPages() {
    const listed = allPages ? pages : pages.slice(0, PAGES_SHOWN);
    pagesNote.textContent = pages.length ? "" : "None recorded.";
    pagesList.replaceChildren(
      ...listed.map((page) =>
        h(
          "li",
          {},
          pageLink(page.url, page.title || page.url),
          " ",
          h("time", { class: "muted-text", dateTime: page.at }, clock(page.at)),
        ),
      ),
    );
    const hidden = pages.length - listed.length;
    morePages.hidden = hidden <= 0;
    morePages.textContent = `Show ${hidden} more`;
  }

  morePages.addEventListener("click", () => {
    allPages = true;
    drawPages();
    // The button is gone now: the focus goes to the first page it revealed.
    const next = pagesList.children[PAGES_SHOWN];
    const link = next && next.querySelector("a");
    if (link) link.focus();
  });

  async function loadRelated(conversation, key) {
    relatedFor = key;
    if (!relatedList.children.length) relatedNote.textContent = "Loading…";
    try {
      const answer = await get(`/api/v1/conversations/${conversation.id}/related`);
      if (relatedFor !== key) return;
      const found = answer.conversations || [];
      relatedNote.textContent = found.length ? "" : "None with this visitor, email or phone.";
      relatedList.replaceChildren(...found.map(relatedItem));
    } catch (failure) {
      if (relatedFor !== key) return;
      relatedFor = null;
      relatedNote.textContent = `Earlier conversations did not load: ${failure.message}`;
    }
  }

  function refresh() {
    clearTimeout(timer);
    if (!shown || !visible) return;
    if (pagesFor !== contextKey(shown)) loadPages(shown, contextKey(shown));
    if (relatedFor !== contactKey(shown)) loadRelated(shown, contactKey(shown));
  }

  function render(conversation) {
    const changedConversation = !shown || shown.id !== conversation.id;
    shown = conversation;
    if (changedConversation) {
      clearTimeout(timer);
      pagesFor = relatedFor = null;
      pages = [];
      allPages = false;
      pagesList.replaceChildren();
      relatedList.replaceChildren();
      pagesNote.textContent = relatedNote.textContent = "";
      morePages.hidden = true;
      refresh();
    } else if (pagesFor !== contextKey(conversation) || relatedFor !== contactKey(conversation)) {
      clearTimeout(timer);
      timer = setTimeout(refresh, REFRESH_DELAY_MS);
    }
  }

  return {
    element,
    render,
    destroy() {
      clearTimeout(timer);
      observer.disconnect();
    },
  };
}

function relatedItem(conversation) {
  return h(
    "li",
    {},
    h(
      "a",
      { href: `/admin/conversations/${conversation.id}` },
      `#${conversation.id} ${visitorName(conversation)}`,
    ),
    " ",
    h("span", { class: `tag ${conversation.status}` }, conversation.status),
    " ",
    h(
      "span",
      { class: "muted-text" },
      `${channelLabel(conversation.channel)}, ${clock(conversation.updated_at)}`,
    ),
    conversation.rating
      ? h("span", { class: "muted-text" }, ` · rated ${conversation.rating.score} of 5`)
      : null,
  );
}
