// Users: invite (a generated one-time password), change role, disable, reset password.

import { get, patch, post } from "./api.js";
import { copyButton, field, h, onSubmit } from "./dom.js";
import { presenceLabel } from "./presence.js";
import { getState, subscribe } from "./store.js";

const ROLES = ["agent", "admin", "owner"];

function oneTimePassword(answer) {
  return answer && (answer.password || answer.generated_password || answer.temporary_password);
}

function secretNotice(email, password) {
  const value = h("input", {
    type: "text",
    readonly: true,
    value: password,
    "aria-label": "One-time password",
  });
  return h(
    "div",
    { class: "card secret", role: "status" },
    h(
      "p",
      {},
      `One-time password for ${email}. It is shown only now; they must change it at first sign-in.`,
    ),
    h(
      "div",
      { class: "copy-row" },
      value,
      copyButton(() => password, value),
    ),
  );
}

export function mountUsers(host) {
  const me = getState().me;
  const allowedRoles = ROLES.filter((role) => ROLES.indexOf(role) <= ROLES.indexOf(me.role));
  const notice = h("div", { class: "notice-host" });
  const error = h("p", { class: "form-error", role: "alert" });
  const body = h("tbody");
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off" });
  const name = h("input", {
    type: "text",
    name: "name",
    required: true,
    maxLength: 100,
    autocomplete: "off",
  });
  const role = h(
    "select",
    { name: "role" },
    allowedRoles.map((r) => h("option", { value: r }, r)),
  );
  const create = h("button", { type: "submit", class: "primary" }, "Create user");
  const form = h(
    "form",
    { class: "card inline-form", "aria-label": "Invite a user" },
    field("Email", email),
    field("Name", name),
    field("Role", role),
    create,
  );
  host.replaceChildren(
    h(
      "section",
      { class: "page", "aria-labelledby": "users-title" },
      h("h1", { id: "users-title" }, "Users"),
      form,
      notice,
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
            ["Name", "Email", "Role", "Status", "Presence", "Actions"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        body,
      ),
    ),
  );

  onSubmit(form, create, error, async () => {
    const answer = await post("/api/v1/users", {
      email: email.value.trim(),
      name: name.value.trim(),
      role: role.value,
    });
    const password = oneTimePassword(answer);
    const invited = answer && answer.invited;
    notice.replaceChildren(
      password
        ? secretNotice(email.value.trim(), password)
        : h(
            "p",
            { role: "status" },
            invited
              ? `Invitation mailed to ${email.value.trim()}; the link works for 7 days.`
              : "User created.",
          ),
    );
    form.reset();
    await load();
  });

  /** Apply `changes`; the table is drawn again with the focus on `focus` (see load). */
  async function change(user, changes, done, focus = `actions-${user.id}`) {
    error.textContent = "";
    try {
      const answer = await patch(`/api/v1/users/${user.id}`, changes);
      if (done) done(answer);
      await load(focus);
    } catch (failure) {
      error.textContent = failure.message;
      await load(focus);
    }
  }

  function confirmCell(cell, question, label, onYes, focus) {
    const yes = h("button", { type: "button", class: "danger", onclick: onYes }, label);
    const no = h("button", { type: "button", onclick: () => load(focus) }, "Cancel");
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

  function userRow(user) {
    const isMe = user.id === me.id;
    const roleSelect = h(
      "select",
      {
        "aria-label": `Role of ${user.name || user.email}`,
        disabled: isMe || !allowedRoles.includes(user.role),
      },
      ROLES.map((r) =>
        h(
          "option",
          { value: r, selected: r === user.role, disabled: !allowedRoles.includes(r) },
          r,
        ),
      ),
    );
    const label = user.name || user.email;
    roleSelect.dataset.focus = `role-${user.id}`;
    const roleCell = h("td", {}, roleSelect);
    // A role changes what someone may do at once: ask first; Cancel puts the old role back.
    roleSelect.addEventListener("change", () => {
      const role = roleSelect.value;
      roleSelect.disabled = true;
      confirmCell(
        roleCell,
        `Make ${label} an ${role}?`,
        "Change role",
        () => change(user, { role }, null, `role-${user.id}`),
        `role-${user.id}`,
      );
      roleCell.prepend(roleSelect);
    });
    const actions = h("td", { class: "actions", dataset: { focus: `actions-${user.id}` } });
    const toggle = user.disabled
      ? h("button", { type: "button", onclick: () => change(user, { disabled: false }) }, "Enable")
      : h(
          "button",
          {
            type: "button",
            disabled: isMe,
            onclick: () =>
              confirmCell(
                actions,
                `Disable ${label}? Their sessions end.`,
                "Disable",
                () => change(user, { disabled: true }),
                `actions-${user.id}`,
              ),
          },
          "Disable",
        );
    const reset = h(
      "button",
      {
        type: "button",
        onclick: () =>
          confirmCell(
            actions,
            `Reset the password of ${label}?`,
            "Reset password",
            () =>
              change(user, { reset_password: true }, (answer) => {
                const password = oneTimePassword(answer);
                notice.replaceChildren(
                  password
                    ? secretNotice(user.email, password)
                    : h("p", { role: "status" }, "Password reset."),
                );
              }),
            `actions-${user.id}`,
          ),
      },
      "Reset password",
    );
    actions.replaceChildren(toggle, reset);
    const status = user.disabled
      ? "Disabled"
      : user.must_change_password
        ? "Must change password"
        : "Active";
    return h(
      "tr",
      { class: user.disabled ? "muted" : null },
      h("td", {}, user.name || "", isMe ? " (you)" : ""),
      h("td", {}, user.email),
      roleCell,
      h("td", {}, status),
      h("td", {}, presenceCell(user)),
      actions,
    );
  }

  // user id -> the presence badge in their row, updated live from the store's team.
  const badges = new Map();

  function presenceCell(user) {
    const badge = h("span", { class: "presence" });
    badges.set(user.id, badge);
    showPresence(badge, user);
    return badge;
  }

  function showPresence(badge, user) {
    const label = presenceLabel(user);
    badge.textContent = label;
    badge.dataset.state = label.toLowerCase();
  }

  const unsubscribe = subscribe((state, changed) => {
    if (!changed.has("staff") || !state.staff) return;
    for (const user of state.staff) {
      const badge = badges.get(user.id);
      if (badge) showPresence(badge, user);
    }
  });

  /**
   * (Re)draw the table. The rows are new elements, so the focus would fall to the page: it goes
   * to the control named by `focus` ("role-ID", or "actions-ID" for that row's first button).
   */
  async function load(focus = null) {
    try {
      const { users } = await get("/api/v1/users");
      badges.clear();
      body.replaceChildren(...(users || []).map(userRow));
      const target = focus && body.querySelector(`[data-focus="${focus}"]`);
      if (target) (target.matches("td") ? target.querySelector("button") : target)?.focus();
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  load();
  return { destroy: unsubscribe };
}
