// Backups (owners of the installation): the scheduled backups, the last failure, and a download
// of a fresh backup taken on the spot.

import { download, get } from "./api.js";
import { clock, h } from "./dom.js";

function size(bytes) {
  if (typeof bytes !== "number") return "";
  if (bytes < 1024 * 1024) return `${Math.ceil(bytes / 1024)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function mountBackups(host) {
  const body = h("tbody");
  const schedule = h("p");
  const failure = h("div", { class: "failure-host" });
  const error = h("p", { class: "form-error", role: "alert" });
  const status = h("p", { class: "form-ok", role: "status" });
  const fresh = h("button", { type: "button", class: "primary" }, "Download a fresh backup");
  host.replaceChildren(
    h(
      "section",
      { class: "page", "aria-labelledby": "backups-title" },
      h("h1", { id: "backups-title" }, "Backups"),
      schedule,
      failure,
      h("div", { class: "actions" }, fresh),
      error,
      status,
      h("h2", {}, "Kept on the server"),
      h(
        "table",
        { class: "table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["File", "Taken", "Size"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        body,
      ),
    ),
  );

  fresh.addEventListener("click", async () => {
    error.textContent = "";
    status.textContent = "Taking a backup…";
    fresh.disabled = true;
    try {
      const file = await download("/api/v1/backups", "omnichat-backup.sqlite", "POST");
      status.textContent = `Downloaded ${file.name} (${size(file.size)}).`;
    } catch (problem) {
      status.textContent = "";
      error.textContent = problem.message;
    } finally {
      fresh.disabled = false;
    }
  });

  async function load() {
    try {
      const answer = await get("/api/v1/backups");
      schedule.textContent = answer.interval_hours
        ? `The server takes a backup every ${answer.interval_hours} h ` +
          `and keeps the last ${answer.keep}.`
        : "Scheduled backups are off.";
      const last = answer.last_failure;
      failure.replaceChildren(
        last
          ? h(
              "div",
              { class: ["card", "warning"], role: "alert" },
              h("strong", {}, answer.failing ? "Backups are failing" : "A backup failed earlier"),
              h("p", {}, `${clock(last.at)}: ${last.message}`),
            )
          : [],
      );
      const backups = answer.backups || [];
      body.replaceChildren(
        ...backups.map((backup) =>
          h(
            "tr",
            {},
            h("td", { class: "mono" }, backup.name),
            h("td", {}, h("time", { datetime: backup.created_at }, clock(backup.created_at))),
            h("td", {}, size(backup.size)),
          ),
        ),
      );
      if (!backups.length)
        body.replaceChildren(h("tr", {}, h("td", { colSpan: 3 }, "No backups yet.")));
    } catch (problem) {
      error.textContent = problem.message;
    }
  }

  load();
  return { destroy() {} };
}
