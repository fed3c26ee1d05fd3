// The audit log: who did what, newest first, a page at a time, in words rather than codes, with
// a filter by action and by person over the entries loaded so far.

import { get } from "./api.js";
import { clock, field, h } from "./dom.js";

const PAGE = 100;

// The action codes the server writes, as a person would say them; an unknown code shows as is.
const ACTIONS = {
  "auth.login": "Signed in",
  "auth.login_failed": "Failed sign-in",
  "auth.logout": "Signed out",
  "auth.password_changed": "Changed password",
  "auth.refresh_reused": "Reused session token (sessions ended)",
  "backup.download": "Downloaded a backup",
  "export.conversations": "Exported conversations",
  "export.report": "Exported a report",
  "site.created": "Created a site",
  "site.updated": "Changed site settings",
  "user.created": "Added a user",
  "user.updated": "Changed a user",
  "conversation.assigned": "Assigned a conversation",
  "conversation.closed": "Closed a conversation",
  "conversation.reopened": "Reopened a conversation",
  "token.created": "Created an API token",
  "token.revoked": "Revoked an API token",
};
const KINDS = {
  user: "User",
  site: "Site",
  conversation: "Conversation",
  followup: "Follow-up",
  token: "API token",
};

function actionName(code) {
  return ACTIONS[code] || code;
}

function actorName(entry) {
  if (!entry.actor) return "System";
  const person = entry.actor.name || `User #${entry.actor.id}`;
  // A program acting with an API token the person made.
  return entry.actor.token ? `token ${entry.actor.token.name} (${person})` : person;
}

/** "user:12" as "User Ada (#12)" when the name is known, else "User #12". */
function targetName(target, names) {
  if (!target) return "";
  const [kind, id] = target.split(":");
  if (!id) return target;
  const label = KINDS[kind] || kind;
  const name = kind === "user" ? names.get(Number(id)) : null;
  return name ? `${label} ${name} (#${id})` : `${label} #${id}`;
}

function describe(details) {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details)
    .map(([key, value]) => {
      const shown = typeof value === "string" ? value : JSON.stringify(value);
      return `${key.replaceAll("_", " ")}: ${shown}`;
    })
    .join(", ");
}

function options(select, all, values) {
  const chosen = select.value;
  select.replaceChildren(
    h("option", { value: "" }, all),
    ...[...values.entries()]
      .sort((a, b) => a[1].localeCompare(b[1]))
      .map(([value, label]) => h("option", { value }, label)),
  );
  select.value = values.has(chosen) ? chosen : "";
}

export function mountAudit(host) {
  const body = h("tbody");
  const error = h("p", { class: "form-error", role: "alert" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Load older entries");
  const actionFilter = h("select", { name: "action" });
  const actorFilter = h("select", { name: "actor" });
  const shown = h("p", { class: "hint", role: "status" });
  const entries = [];
  const names = new Map(); // user id -> name, for targets
  let next = null;
  host.replaceChildren(
    h(
      "section",
      { class: "page", "aria-labelledby": "audit-title" },
      h("h1", { id: "audit-title" }, "Audit log"),
      h(
        "form",
        { class: "inline-form audit-filter", "aria-label": "Filter the audit log" },
        field("Action", actionFilter),
        field("Who", actorFilter),
      ),
      shown,
      error,
      h(
        "div",
        { class: "table-scroll", tabIndex: 0, role: "region", "aria-label": "Audit entries" },
        h(
          "table",
          { class: "table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Time", "Who", "Action", "Target", "Details", "IP"].map((t) =>
                h("th", { scope: "col" }, t),
              ),
            ),
          ),
          body,
        ),
      ),
      more,
    ),
  );

  function actorKey(entry) {
    if (!entry.actor) return "system";
    return entry.actor.token ? `token:${entry.actor.token.id}` : `user:${entry.actor.id}`;
  }

  function render() {
    const actions = new Map(entries.map((e) => [e.action, actionName(e.action)]));
    const actors = new Map(entries.map((e) => [actorKey(e), actorName(e)]));
    options(actionFilter, "All actions", actions);
    options(actorFilter, "Everyone", actors);
    const picked = entries.filter(
      (e) =>
        (!actionFilter.value || e.action === actionFilter.value) &&
        (!actorFilter.value || actorKey(e) === actorFilter.value),
    );
    body.replaceChildren(
      ...picked.map((entry) =>
        h(
          "tr",
          {},
          h(
            "td",
            {},
            h(
              "time",
              { datetime: entry.created_at, title: entry.created_at },
              clock(entry.created_at),
            ),
          ),
          h("td", {}, actorName(entry)),
          h("td", { title: entry.action }, actionName(entry.action)),
          h("td", {}, targetName(entry.target, names)),
          h("td", {}, describe(entry.details)),
          h("td", { class: "mono" }, entry.ip || ""),
        ),
      ),
    );
    const filtered = actionFilter.value || actorFilter.value;
    shown.textContent = filtered
      ? `${picked.length} of the ${entries.length} entries loaded match.`
      : "";
  }

  async function loadNames() {
    try {
      const { users } = await get("/api/v1/users");
      for (const user of users || []) names.set(user.id, user.name || user.email);
    } catch {
      // Targets keep their numbers.
    }
  }

  async function load() {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (next) query.set("before", next);
    try {
      const answer = await get(`/api/v1/audit?${query}`);
      entries.push(...(answer.entries || answer.audit || answer.events || []));
      next = answer.next || null;
      more.hidden = !next;
      render();
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  actionFilter.addEventListener("change", render);
  actorFilter.addEventListener("change", render);
  more.addEventListener("click", load);
  loadNames().then(load);
  return { destroy() {} };
}
