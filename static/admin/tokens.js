// API tokens: secrets other programs (a booking system, a CRM) use to call the API. Admins list
// them, create one (its secret shown once, here, with a copy button) and revoke them.

import { del, get, post } from "./api.js";
import { clock, copyButton, field, h, onSubmit } from "./dom.js";
import { getState } from "./store.js";

const ROLES = ["agent", "admin", "owner"];

function when(iso, fallback) {
  return iso ? h("time", { dateTime: iso, title: iso }, clock(iso)) : fallback;
}

/** The secret of a token just made: shown once, with a warning, a copy button and Done. */
function secretNotice(token, secret, done) {
  const value = h("input", {
    type: "text",
    readonly: true,
    value: secret,
    "aria-label": "API token secret",
    spellcheck: false,
    autocomplete: "off",
  });
  const close = h("button", { type: "button", onclick: done }, "Done");
  const card = h(
    "div",
    { class: "card secret", role: "status" },
    h("p", {}, h("strong", {}, `Token "${token.name}" created.`)),
    h(
      "p",
      { class: "secret-warning" },
      "Copy the secret now: it is shown only this once and cannot be read again. Keep it like a " +
        "password; anyone holding it can use the API as this token.",
    ),
    h("div", { class: "copy-row" }, value, copyButton(() => secret, value)),
    h(
      "p",
      { class: "muted-text" },
      "Programs send it as the header Authorization: Bearer SECRET.",
    ),
    close,
  );
  return { card, focus: () => value.focus() };
}

export function mountTokens(host) {
  const me = getState().me;
  const allowedRoles = ROLES.filter((role) => ROLES.indexOf(role) <= ROLES.indexOf(me.role));
  const notice = h("div", { class: "notice-host" });
  const error = h("p", { class: "form-error", role: "alert" });
  const status = h("p", { class: "visually-hidden", role: "status" });
  const body = h("tbody");
  const empty = h("p", { class: "muted-text", hidden: true }, "No API tokens yet.");
  const name = h("input", {
    type: "text",
    name: "name",
    required: true,
    maxLength: 100,
    autocomplete: "off",
    placeholder: "e.g. Booking system",
  });
  const role = h(
    "select",
    { name: "role" },
    allowedRoles.map((r) => h("option", { value: r }, r)),
  );
  const create = h("button", { type: "submit", class: "primary" }, "Create token");
  const form = h(
    "form",
    { class: "card inline-form", "aria-label": "Create an API token" },
    field("Name", name),
    field("Role", role),
    create,
  );
  host.replaceChildren(
    h(
      "section",
      { class: "page", "aria-labelledby": "tokens-title" },
      h("h1", { id: "tokens-title" }, "API tokens"),
      h(
        "p",
        { class: "help" },
        "A token lets another program use the API with the role you give it (never more than " +
          "yours). It acts in your name, and revoking it stops it at once.",
      ),
      form,
      notice,
      error,
      status,
      h(
        "table",
        { class: "table tokens-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Role", "Created", "Last used", "Actions"].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        body,
      ),
      empty,
    ),
  );

  onSubmit(form, create, error, async () => {
    const answer = await post("/api/v1/tokens", { name: name.value.trim(), role: role.value });
    const shown = secretNotice(answer.token, answer.secret, () => {
      notice.replaceChildren();
      name.focus();
    });
    notice.replaceChildren(shown.card);
    form.reset();
    await load();
    shown.focus();
  });

  function confirmCell(cell, token) {
    const yes = h(
      "button",
      { type: "button", class: "danger", onclick: () => revoke(token) },
      "Revoke",
    );
    const no = h("button", { type: "button", onclick: () => load(`actions-${token.id}`) }, "Cancel");
    const question = `Revoke ${token.name}? Programs using it stop working at once.`;
    cell.replaceChildren(
      h(
        "div",
        { class: "confirm", role: "group", "aria-label": question },
        h("span", {}, question),
        yes,
        no,
      ),
    );
    yes.focus();
  }

  async function revoke(token) {
    error.textContent = "";
    try {
      await del(`/api/v1/tokens/${token.id}`);
      status.textContent = `Token ${token.name} revoked.`;
    } catch (failure) {
      error.textContent = failure.message;
    }
    await load();
    create.focus();
  }

  function tokenRow(token) {
    const actions = h("td", { class: "actions", dataset: { focus: `actions-${token.id}` } });
    actions.append(
      h(
        "button",
        {
          type: "button",
          "aria-label": `Revoke ${token.name}`,
          onclick: () => confirmCell(actions, token),
        },
        "Revoke",
      ),
    );
    return h(
      "tr",
      { dataset: { token: String(token.id) } },
      h("td", { class: "token-name" }, token.name),
      h("td", {}, token.role),
      h("td", {}, h("span", { class: "cell-label" }, "Created "), when(token.created_at, "")),
      h(
        "td",
        {},
        h("span", { class: "cell-label" }, "Last used "),
        when(token.last_used_at, "never"),
      ),
      actions,
    );
  }

  /** (Re)draw the table; the focus goes to the row's first button named by `focus`. */
  async function load(focus = null) {
    try {
      const { tokens } = await get("/api/v1/tokens");
      body.replaceChildren(...(tokens || []).map(tokenRow));
      empty.hidden = Boolean(tokens && tokens.length);
      const target = focus && body.querySelector(`[data-focus="${focus}"] button`);
      if (target) target.focus();
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  load();
  return { destroy() {} };
}
