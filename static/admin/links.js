// The links Omnichat mails: #reset=TOKEN (choose a new password) and #invite=TOKEN (accept an
// invitation), and the "forgot your password?" request on the sign-in screen. The token is
// taken out of the address bar at once, so it stays in neither history nor a shared screenshot.

import { adoptTokens, anonymous } from "./api.js";
import { clearFieldErrors, field, h, showFieldError } from "./dom.js";

const LINK = /^#(reset|invite)=([A-Za-z0-9_-]{1,128})$/;

/** The link in the URL ({kind, token}) or null; the fragment is removed either way. */
export function takeLink() {
  const match = LINK.exec(location.hash);
  if (!location.hash.startsWith("#reset=") && !location.hash.startsWith("#invite=")) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return match ? { kind: match[1], token: match[2] } : { kind: "broken", token: "" };
}

function passwordInputs() {
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
  return { fresh, again };
}

/**
 * The form a mailed link opens. onSignedIn(user) after an accepted invitation; onDone() to go
 * to the sign-in screen.
 */
export function linkScreen(link, { onSignedIn, onDone }) {
  const { fresh, again } = passwordInputs();
  const name = h("input", { type: "text", name: "name", autocomplete: "name", required: true });
  const error = h("p", { class: "form-error", role: "alert" });
  const reset = link.kind === "reset";
  const title = reset ? "Choose a new password" : "Welcome to Omnichat";
  const submit = h("button", { type: "submit", class: "primary" }, reset ? "Set password" : "Join");
  const back = h("button", { type: "button", onclick: onDone }, "Go to sign-in");
  const form = h(
    "form",
    { class: "card auth-card", "aria-labelledby": "link-title" },
    h("h1", { id: "link-title" }, title),
    reset ? null : h("p", {}, "Choose the name your colleagues see, and your password."),
    reset ? null : field("Your name", name),
    field(reset ? "New password" : "Password", fresh),
    field("Password again", again),
    error,
    h("div", { class: "actions" }, submit, back),
  );
  if (link.kind === "broken") {
    error.textContent = "This link is not complete; copy the whole link from the mail.";
    submit.disabled = true;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    clearFieldErrors(form);
    if (fresh.value !== again.value) {
      showFieldError(form, { message: "confirm_password: the two passwords differ" }, error);
      return;
    }
    submit.disabled = true;
    try {
      if (reset) {
        await anonymous("POST", "/api/v1/auth/reset", {
          token: link.token,
          new_password: fresh.value,
        });
        form.replaceChildren(
          h("h1", { id: "link-title" }, "Password changed"),
          h("p", { role: "status" }, "Your password is changed. Sign in with it."),
          h("button", { type: "button", class: "primary", onclick: onDone }, "Sign in"),
        );
        return;
      }
      const tokens = await anonymous("POST", "/api/v1/auth/accept", {
        token: link.token,
        password: fresh.value,
        name: name.value.trim(),
      });
      adoptTokens(tokens);
      onSignedIn(tokens.user);
    } catch (failure) {
      const expired = failure.message && failure.message.startsWith("token");
      if (expired) error.textContent = "This link has expired or was already used; ask for a new one.";
      else showFieldError(form, failure, error);
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => (reset ? fresh : name).focus());
  return h("main", { class: "auth" }, form);
}

/** "Forgot your password?": a button that opens a one-field request form. */
export function forgotForm() {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const said = h("p", { class: "form-ok", role: "status" });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit" }, "Send me a link");
  // Attached only when opened, so the sign-in form's "Email" and "Password" stay unique labels.
  const form = h(
    "form",
    { class: "forgot", "aria-label": "Reset your password" },
    field("Your email", email),
    error,
    said,
    submit,
  );
  const open = h(
    "button",
    {
      type: "button",
      class: "link",
      "aria-expanded": "false",
      onclick: () => {
        const opening = !form.isConnected;
        if (opening) wrap.append(form);
        else form.remove();
        open.setAttribute("aria-expanded", String(opening));
        if (opening) email.focus();
      },
    },
    "Forgot your password?",
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    said.textContent = "";
    submit.disabled = true;
    try {
      await anonymous("POST", "/api/v1/auth/forgot", { email: email.value.trim() });
      said.textContent =
        "If an account has this address and email is set up, a link is on its way. It works for one hour.";
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      submit.disabled = false;
    }
  });
  const wrap = h("div", { class: "forgot-wrap" }, open);
  return wrap;
}
