// Sites: whether texting is on, the widget snippet ready to copy, allowed origins, the Twilio
// numbers and the per-site settings.

import { get, patch, post } from "./api.js";
import {
  clearFieldErrors,
  copyButton,
  field,
  fieldErrorFor,
  h,
  onSubmit,
  showFieldError,
} from "./dom.js";
import { hoursEditor } from "./hours.js";
import { textingPanel } from "./texting.js";

// [field, label, kind]; kinds: text, long (textarea), number, list (one per line), secret
// (write-only: left empty it is unchanged), json, phone (empty removes it; typed without +code
// it is read in the site's country), country (ISO code like GB; empty: the server's default),
// flag (a checkbox), hours (the business-hours editor).
const FIELDS = [
  ["name", "Name", "text"],
  ["allowed_origins", "Allowed origins (one per line, e.g. https://example.com)", "list"],
  ["greeting", "Greeting", "long"],
  ["patience_seconds", "Patience message after (seconds)", "number"],
  ["patience_text", "Patience message", "long"],
  ["escalate_seconds", "Escalate after (seconds)", "number"],
  ["escalate_text", "Escalation message", "long"],
  ["followup_text", "Thank-you after a follow-up", "long"],
  ["business_hours", "Business hours", "hours"],
  ["away_text", "Away message (outside business hours)", "long"],
  ["auto_close_minutes", "Close idle conversations after (minutes)", "number"],
  ["identity_secret", "Identity verification secret (write-only; empty keeps it)", "secret"],
  ["default_country", "Country for phone numbers typed without +code (e.g. US, GB)", "country"],
  ["sms_number", "SMS number (Twilio, like +15550100123; empty: none)", "phone"],
  ["whatsapp_number", "WhatsApp number (Twilio; may equal the SMS one)", "phone"],
  ["alert_numbers", "Alert numbers (one per line)", "list"],
  ["alert_emails", "Alert email addresses (one per line)", "list"],
  ["alert_webhook_url", "Alert webhook URL", "text"],
  ["auto_assign", "Auto-assign new conversations to online staff (round-robin)", "flag"],
  [
    "max_open_per_agent",
    "Open conversations per agent before auto-assign skips them (0: no cap)",
    "number",
  ],
];

// The settings form's fieldsets, in order: [legend, fields]. A field in none of them goes to the
// last one, "Other", so a new setting always shows.
const GROUPS = [
  ["Basics", ["name", "allowed_origins", "identity_secret"]],
  ["Widget texts", ["greeting", "patience_text", "escalate_text", "followup_text"]],
  ["Escalation timing", ["patience_seconds", "escalate_seconds", "auto_close_minutes"]],
  ["Business hours", ["business_hours", "away_text"]],
  ["Channels", ["sms_number", "whatsapp_number"]],
  ["Alerts", ["alert_numbers", "alert_emails", "alert_webhook_url"]],
];

/** The inputs' elements in fieldsets with legends. */
function fieldsets(inputs) {
  const grouped = GROUPS.map(([legend, fields]) => [
    legend,
    inputs.filter((i) => fields.includes(i.field)),
  ]);
  const placed = new Set(GROUPS.flatMap(([, fields]) => fields));
  grouped.push(["Other", inputs.filter((i) => !placed.has(i.field))]);
  return grouped
    .filter(([, members]) => members.length)
    .map(([legend, members]) =>
      h(
        "fieldset",
        { class: "settings-group" },
        h("legend", {}, legend),
        members.map((i) => i.element),
      ),
    );
}

function hoursInput(site, [field, label, kind]) {
  const id = `site-${site.id}-${field}`;
  const editor = hoursEditor(site[field] ?? null, id);
  const error = h("span", { class: "field-error", role: "alert", id: `${id}-error` });
  return {
    field,
    kind,
    control: editor.focusable,
    read: editor.value,
    error,
    element: h(
      "div",
      { class: "field hours-field", role: "group", "aria-labelledby": `${id}-label` },
      h("span", { id: `${id}-label` }, label),
      editor.element,
      error,
    ),
  };
}

function input(site, [field, label, kind]) {
  if (kind === "hours") return hoursInput(site, [field, label, kind]);
  const value = site[field];
  let control;
  if (kind === "long" || kind === "list" || kind === "json") {
    const text =
      kind === "list"
        ? (value || []).join("\n")
        : kind === "json"
          ? JSON.stringify(value ?? null, null, 2)
          : (value ?? "");
    control = h("textarea", { name: field, rows: kind === "json" ? 4 : 2, value: text });
  } else if (kind === "flag") {
    control = h("input", { name: field, type: "checkbox", checked: Boolean(value) });
  } else {
    control = h("input", {
      name: field,
      type: { number: "number", secret: "password", phone: "tel" }[kind] || "text",
      value: kind === "secret" ? "" : String(value ?? ""),
      autocomplete: kind === "secret" ? "new-password" : "off",
      placeholder: kind === "phone" ? "+15550100123" : null,
    });
  }
  // The error sits in the label but is the control's description, not part of its name.
  const id = `site-${site.id}-${field}`;
  const error = fieldErrorFor(control, `${id}-error`);
  control.setAttribute("aria-labelledby", `${id}-label`);
  return {
    field,
    kind,
    control,
    error,
    element: h(
      "label",
      { class: "field" },
      h("span", { id: `${id}-label` }, label),
      control,
      error,
    ),
  };
}

function read(inputs, site) {
  const changes = {};
  for (const { field, kind, control, read: readValue } of inputs) {
    const raw = control.value;
    let value;
    if (readValue) value = readValue();
    else if (kind === "list")
      value = raw
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean);
    else if (kind === "flag") value = control.checked;
    else if (kind === "number") {
      if (raw === "") continue;
      value = Number(raw);
    } else if (kind === "secret") {
      if (!raw) continue;
      value = raw;
    } else if (kind === "json") {
      try {
        value = JSON.parse(raw || "null");
      } catch {
        throw new Error(`${field}: not valid JSON`);
      }
    } else if (kind === "phone") {
      value = raw.trim() || null;
    } else if (kind === "country") {
      value = raw.trim().toUpperCase() || null;
    } else value = raw === "" && site[field] == null ? null : raw;
    if (JSON.stringify(value) !== JSON.stringify(site[field] ?? (kind === "list" ? [] : null))) {
      changes[field] = value;
    }
  }
  return changes;
}

function number(value) {
  return value || "Not set";
}

function siteCard(site, reload, justSaved) {
  const snippet = h("textarea", {
    readonly: true,
    rows: 2,
    class: "snippet",
    "aria-label": `Widget snippet for ${site.name}`,
    value: site.snippet || "",
  });
  const inputs = FIELDS.filter(([field]) => field in site || field === "identity_secret").map(
    (spec) => input(site, spec),
  );
  const secretState = site.has_identity_secret
    ? "A secret is set."
    : "No secret set: identities are not verified.";
  const error = h("p", { class: "form-error", role: "alert" });
  const saved = h("p", { class: "form-ok", role: "status" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h(
    "form",
    { class: "site-form", hidden: true },
    fieldsets(inputs),
    error,
    saved,
    save,
  );
  const edit = h("button", { type: "button", "aria-expanded": "false" }, "Edit settings");
  edit.addEventListener("click", () => {
    form.hidden = !form.hidden;
    edit.setAttribute("aria-expanded", String(!form.hidden));
  });
  if (justSaved) {
    form.hidden = false;
    edit.setAttribute("aria-expanded", "true");
    saved.textContent = "Saved.";
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    saved.textContent = "";
    clearFieldErrors(form);
    try {
      const changes = read(inputs, site);
      if (!Object.keys(changes).length) {
        saved.textContent = "Nothing changed.";
        return;
      }
      save.disabled = true;
      await patch(`/api/v1/sites/${site.id}`, changes);
      await reload(site.id);
    } catch (failure) {
      showFieldError(form, failure, error);
    } finally {
      save.disabled = false;
    }
  });
  return h(
    "li",
    { class: "card site" },
    h("h2", {}, site.name),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Site key"),
      h("dd", { class: "mono" }, site.site_key),
      h("dt", {}, "Allowed origins"),
      h("dd", {}, (site.allowed_origins || []).join(", ") || "Any (development only)"),
      h("dt", {}, "SMS number"),
      h("dd", { class: "mono" }, number(site.sms_number)),
      h("dt", {}, "WhatsApp number"),
      h("dd", { class: "mono" }, number(site.whatsapp_number)),
    ),
    h(
      "div",
      { class: "copy-row" },
      snippet,
      copyButton(() => site.snippet || "", snippet),
    ),
    h("p", { class: "hint" }, secretState),
    edit,
    form,
  );
}

export function mountSites(host) {
  const list = h("ul", { class: "site-list", "aria-label": "Sites" });
  const error = h("p", { class: "form-error", role: "alert" });
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  const origins = h("textarea", {
    name: "allowed_origins",
    rows: 2,
    placeholder: "https://example.com",
  });
  const create = h("button", { type: "submit", class: "primary" }, "Add site");
  const form = h(
    "form",
    { class: "card inline-form", "aria-label": "Add a site" },
    field("Name", name),
    field("Allowed origins (one per line)", origins),
    create,
  );
  const texting = textingPanel();
  host.replaceChildren(
    h(
      "section",
      { class: "page", "aria-labelledby": "sites-title" },
      h("h1", { id: "sites-title" }, "Sites"),
      texting.element,
      form,
      error,
      list,
    ),
  );

  onSubmit(form, create, error, async () => {
    const allowed = origins.value
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
    await post("/api/v1/sites", { name: name.value.trim(), allowed_origins: allowed });
    form.reset();
    await load();
  });

  /** (Re)draw the sites; the one just saved keeps its settings open and says so. */
  async function load(savedId = null) {
    try {
      const { sites } = await get("/api/v1/sites");
      list.replaceChildren(
        ...(sites || []).map((site) => siteCard(site, load, site.id === savedId)),
      );
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  load();
  return { destroy: texting.destroy };
}
