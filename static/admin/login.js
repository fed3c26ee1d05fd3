// Sign-in and password change (forced after a generated password, or by choice).

import { login, post } from "./api.js";
import { clearFieldErrors, field, h, showFieldError } from "./dom.js";
import { forgotForm } from "./links.js";

/** The sign-in screen; calls onSignedIn(user) with the user from the login answer. */
export function loginScreen({ onSignedIn }) {
  const email = h("input", {
    type: "email",
    name: "email",
    autocomplete: "username",
    required: true,
  });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  // Asked for only when this email and password open accounts in several tenants.
  const tenant = h("input", { type: "text", name: "tenant", autocomplete: "organization" });
  const tenantField = field("Tenant", tenant);
  tenantField.hidden = true;
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card auth-card", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to Omnichat"),
    field("Email", email),
    field("Password", password),
    tenantField,
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      const tokens = await login(email.value.trim(), password.value, tenant.value.trim());
      onSignedIn(tokens.user || null);
    } catch (failure) {
      if (failure.code === "tenant_required") {
        tenantField.hidden = false;
        error.textContent = "You have accounts in several tenants: give the tenant to sign in to.";
        tenant.focus();
        return;
      }
      error.textContent =
        failure.code === "invalid_credentials" ? "Email or password is wrong." : failure.message;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => email.focus());
  return h("main", { class: "auth" }, h("div", { class: "auth-stack" }, form, forgotForm()));
}

/**
 * The change-password form. `forced` explains why it is shown before anything else;
 * onDone(user) runs after the server accepted the new password.
 */
export function passwordForm({ forced = false, onDone, onCancel = null }) {
  const current = h("input", {
    type: "password",
    name: "current_password",
    autocomplete: "current-password",
    required: true,
  });
  const fresh = h("input", {
    type: "password",
    name: "new_password",
    autocomplete: "new-password",
    required: true,
    minLength: 8,
  });
  const again = h("input", {
    type: "password",
    name: "confirm_password",
    autocomplete: "new-password",
    required: true,
  });
  const error = h("p", { class: "form-error", role: "alert" });
  const done = h("p", { class: "form-ok", role: "status" });
  const submit = h("button", { type: "submit", class: "primary" }, "Change password");
  const form = h(
    "form",
    { class: "card auth-card", "aria-labelledby": "password-title" },
    h("h1", { id: "password-title" }, forced ? "Choose a new password" : "Change password"),
    forced
      ? h("p", {}, "Your password was generated for you. Choose your own before you continue.")
      : null,
    field(forced ? "Current (generated) password" : "Current password", current),
    field("New password", fresh),
    field("New password again", again),
    error,
    done,
    h(
      "div",
      { class: "actions" },
      submit,
      onCancel ? h("button", { type: "button", onclick: onCancel }, "Sign out") : null,
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    done.textContent = "";
    clearFieldErrors(form);
    if (fresh.value !== again.value) {
      showFieldError(form, { message: "confirm_password: the two new passwords differ" }, error);
      again.select();
      return;
    }
    submit.disabled = true;
    try {
      const answer = await post("/api/v1/auth/password", {
        current_password: current.value,
        new_password: fresh.value,
      });
      form.reset();
      done.textContent = "Password changed.";
      onDone((answer && answer.user) || null);
    } catch (failure) {
      showFieldError(form, failure, error);
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => current.focus());
  return form;
}
