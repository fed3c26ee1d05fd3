// Webhooks: the tenant's outgoing webhooks (admins). Create one (its signing secret is shown
// once), change its events, switch it on or off, delete it, and read its delivery log with a
// Resend button per delivery.

import { del, get, patch, post } from "./api.js";
import { clock, copyButton, field, h, onSubmit } from "./dom.js";

const EVENTS = [
  ["conversation.created", "Conversation created"],
  ["conversation.updated", "Conversation updated"],
  ["message.created", "Message (public)"],
  ["message.private", "Private note"],
  ["message.updated", "Text message delivery status"],
  ["followup.created", "Follow-up left"],
  ["followup.updated", "Follow-up updated"],
  ["rating.created", "Rating given"],
];
const DEFAULT_EVENTS = ["conversation.created", "message.created"];

function eventBoxes(legend, chosen, idPrefix) {
  const boxes = EVENTS.map(([name, label]) => {
    const box = h("input", {
      type: "checkbox",
      value: name,
      checked: chosen.includes(name),
      id: `${idPrefix}-${name}`,
    });
    return h("label", { class: "check" }, box, ` ${label} `, h("code", {}, name));
  });
  const set = h("fieldset", { class: "events" }, h("legend", {}, legend), boxes);
  set.chosen = () => [...set.querySelectorAll("input:checked")].map((box) => box.value);
  return set;
}

function secretNotice(secret) {
  const value = h("input", {
    type: "text",
    readonly: true,
    value: secret,
    "aria-label": "Signing secret",
  });
  return h(
    "div",
    { class: "card secret", role: "status" },
    h("p", {}, "Signing secret of the new webhook. It is shown only now: store it where your receiver can check signatures."),
    h("div", { class: "copy-row" }, value, copyButton(() => secret, value)),
  );
}

function deliveryRow(delivery, onResend) {
  const detail = delivery.last_error || "";
  return h(
    "tr",
    {},
    h("td", {}, String(delivery.id)),
    h("td", {}, h("code", {}, delivery.event)),
    h("td", {}, delivery.status),
    h("td", {}, delivery.response_status === null ? "—" : String(delivery.response_status)),
    h("td", {}, String(delivery.attempts)),
    h("td", {}, clock(delivery.created_at)),
    h("td", {}, detail),
    h(
      "td",
      {},
      h(
        "button",
        { type: "button", "aria-label": `Resend delivery ${delivery.id}`, onclick: onResend },
        "Resend",
      ),
    ),
  );
}

export function mountWebhooks(host) {
  const notice = h("div", { class: "notice-host" });
  const error = h("p", { class: "form-error", role: "alert" });
  const list = h("div", { class: "webhook-list" });
  const url = h("input", {
    type: "url",
    name: "url",
    required: true,
    placeholder: "https://example.org/omnichat",
    autocomplete: "off",
  });
  const events = eventBoxes("Events to send", DEFAULT_EVENTS, "new");
  const create = h("button", { type: "submit", class: "primary" }, "Add webhook");
  const form = h(
    "form",
    { class: "card", "aria-label": "Add a webhook" },
    field("Receiver URL", url),
    events,
    create,
  );
  host.replaceChildren(
    h(
      "section",
      { class: "page", "aria-labelledby": "webhooks-title" },
      h("h1", { id: "webhooks-title" }, "Webhooks"),
      h(
        "p",
        {},
        "Omnichat POSTs each chosen event, signed, to your URL; failures are retried for 24 hours. See docs/integrations.md for checking signatures.",
      ),
      form,
      notice,
      error,
      list,
    ),
  );

  onSubmit(form, create, error, async () => {
    const answer = await post("/api/v1/webhooks", { url: url.value.trim(), events: events.chosen() });
    notice.replaceChildren(secretNotice(answer.secret));
    form.reset();
    await load();
  });

  async function act(work) {
    error.textContent = "";
    try {
      await work();
    } catch (failure) {
      error.textContent = failure.message;
    }
    await load();
  }

  async function showLog(webhook, target) {
    const answer = await get(`/api/v1/webhooks/${webhook.id}/deliveries`);
    const rows = answer.deliveries.map((delivery) =>
      deliveryRow(delivery, async () => {
        error.textContent = "";
        try {
          await post(`/api/v1/webhooks/${webhook.id}/deliveries/${delivery.id}/resend`);
        } catch (failure) {
          error.textContent = failure.message;
        }
        await showLog(webhook, target);
      }),
    );
    target.replaceChildren(
      rows.length
        ? h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "table" },
              h("caption", {}, `Last ${rows.length} deliveries to ${webhook.url}`),
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["Id", "Event", "Status", "Answer", "Attempts", "Queued", "Error", "Action"].map(
                    (t) => h("th", { scope: "col" }, t),
                  ),
                ),
              ),
              h("tbody", {}, rows),
            ),
          )
        : h("p", {}, "No deliveries yet."),
    );
  }

  function card(webhook) {
    const chosen = eventBoxes("Events", webhook.events, `hook-${webhook.id}`);
    const log = h("div", { class: "delivery-log", "aria-live": "polite" });
    const save = h("button", { type: "button" }, "Save events");
    save.addEventListener("click", () =>
      act(() => patch(`/api/v1/webhooks/${webhook.id}`, { events: chosen.chosen() })),
    );
    const toggle = h(
      "button",
      { type: "button", "aria-pressed": String(webhook.active) },
      webhook.active ? "Pause" : "Activate",
    );
    toggle.addEventListener("click", () =>
      act(() => patch(`/api/v1/webhooks/${webhook.id}`, { active: !webhook.active })),
    );
    const remove = h("button", { type: "button", class: "danger" }, "Delete");
    remove.addEventListener("click", () => {
      const yes = h("button", { type: "button", class: "danger" }, "Delete webhook");
      const no = h("button", { type: "button" }, "Cancel");
      yes.addEventListener("click", () => act(() => del(`/api/v1/webhooks/${webhook.id}`)));
      no.addEventListener("click", () => load());
      actions.replaceChildren(
        h(
          "div",
          { class: "confirm", role: "group", "aria-label": "Delete this webhook?" },
          h("span", {}, "Delete this webhook and its delivery log?"),
          yes,
          no,
        ),
      );
      yes.focus();
    });
    const showDeliveries = h("button", { type: "button" }, "Deliveries");
    showDeliveries.addEventListener("click", () =>
      showLog(webhook, log).catch((failure) => {
        error.textContent = failure.message;
      }),
    );
    const actions = h("div", { class: "actions" }, save, toggle, showDeliveries, remove);
    const title = h("h2", { class: "mono" }, webhook.url);
    return h(
      "article",
      { class: "card webhook", "aria-label": `Webhook ${webhook.url}` },
      title,
      h("p", {}, webhook.active ? "Active" : "Paused: nothing is sent"),
      chosen,
      actions,
      log,
    );
  }

  async function load() {
    const answer = await get("/api/v1/webhooks");
    list.replaceChildren(
      ...(answer.webhooks.length
        ? answer.webhooks.map(card)
        : [h("p", {}, "No webhooks yet.")]),
    );
  }

  load().catch((failure) => {
    error.textContent = failure.message;
  });
  return { destroy() {} };
}
