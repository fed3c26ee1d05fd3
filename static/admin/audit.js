// The audit log: who did what, newest first, a page at a time.

import { get } from "./api.js";
import { clock, h } from "./dom.js";

const PAGE = 100;

function describe(details) {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details)
    .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(", ");
}

export function mountAudit(host) {
  const body = h("tbody");
  const error = h("p", { class: "form-error", role: "alert" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Load older entries");
  let next = null;
  host.replaceChildren(
    h(
      "section",
      { class: "page", "aria-labelledby": "audit-title" },
      h("h1", { id: "audit-title" }, "Audit log"),
      error,
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
      more,
    ),
  );

  async function load() {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (next) query.set("before", next);
    try {
      const answer = await get(`/api/v1/audit?${query}`);
      const entries = answer.entries || answer.audit || answer.events || [];
      body.append(
        ...entries.map((entry) =>
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
            h("td", {}, entry.actor ? entry.actor.name || `user ${entry.actor.id}` : "system"),
            h("td", { class: "mono" }, entry.action),
            h("td", { class: "mono" }, entry.target || ""),
            h("td", {}, describe(entry.details)),
            h("td", { class: "mono" }, entry.ip || ""),
          ),
        ),
      );
      next = answer.next || null;
      more.hidden = !next;
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  more.addEventListener("click", load);
  load();
  return { destroy() {} };
}
