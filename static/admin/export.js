// CSV export of conversations for the last N days, downloaded with the Authorization header.

import { download } from "./api.js";
import { field, h, onSubmit } from "./dom.js";

export function mountExport(host) {
  const days = h("input", {
    type: "number",
    name: "days",
    min: 1,
    max: 3650,
    value: "30",
    required: true,
  });
  const status = h("p", { class: "form-ok", role: "status" });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Download CSV");
  const form = h(
    "form",
    { class: "card" },
    field("Conversations updated in the last N days", days),
    submit,
    status,
    error,
  );
  onSubmit(form, submit, error, async () => {
    status.textContent = "";
    const n = Number(days.value);
    const file = await download(
      `/api/v1/export/conversations.csv?days=${encodeURIComponent(n)}`,
      `conversations-last-${n}-days.csv`,
    );
    status.textContent = `Downloaded ${file.name} (${file.size} bytes).`;
  });
  host.replaceChildren(
    h(
      "section",
      { class: "page narrow", "aria-labelledby": "export-title" },
      h("h1", { id: "export-title" }, "Export conversations"),
      h(
        "p",
        {},
        "A CSV file with one row per conversation (visitor, assignee, status, message count), " +
          "for spreadsheets and archives.",
      ),
      form,
    ),
  );
  return { destroy() {} };
}
