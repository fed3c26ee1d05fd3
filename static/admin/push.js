// Web push on this device (the service worker, the subscription) and the panel where each
// user picks which events reach them by push and by email.

import { del, get, patch, post } from "./api.js";
import { h } from "./dom.js";

const WORKER = "/admin/sw.js";
const EVENTS = [
  ["new_conversation", "New conversation"],
  ["assigned", "Assigned to you"],
  ["escalated", "Escalated"],
  ["followup", "Follow-up request"],
];
const CHANNELS = [
  ["push", "Push"],
  ["email", "Email"],
];

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** Register the service worker (scope /admin/); resolves to its registration or null. */
export async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register(WORKER, { scope: "/admin/" });
  } catch {
    return null;
  }
}

/** Call `go(path)` when a notification click asks an open tab to show something. */
export function listenToWorker(go) {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.addEventListener("message", (event) => {
    const data = event.data || {};
    if (data.type === "open" && typeof data.path === "string" && data.path.startsWith("/admin")) {
      go(data.path);
    }
  });
  registerWorker();
}

function urlBase64ToBytes(text) {
  const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function currentSubscription() {
  const registration = await registerWorker();
  return registration ? registration.pushManager.getSubscription() : null;
}

async function enablePush() {
  if ((await Notification.requestPermission()) !== "granted") {
    throw new Error("Notifications are blocked for this site in the browser's settings.");
  }
  const registration = await registerWorker();
  if (!registration) throw new Error("This browser cannot register the service worker.");
  const { public_key: key } = await get("/api/v1/push/key");
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: urlBase64ToBytes(key),
  });
  await post("/api/v1/push/subscriptions", subscription.toJSON());
}

async function disablePush() {
  const subscription = await currentSubscription();
  if (!subscription) return;
  await del("/api/v1/push/subscriptions", { endpoint: subscription.endpoint }).catch(() => {});
  await subscription.unsubscribe();
}

/** The notification settings card of the account screen; onSaved(user) after a change. */
export function notifySettings(me, { onSaved }) {
  let chosen = structuredClone(me.notify || {});
  const status = h("p", { class: "form-ok", role: "status" });
  const error = h("p", { class: "form-error", role: "alert" });
  const rows = EVENTS.map(([event, label]) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, label),
      CHANNELS.map(([channel, name]) =>
        h(
          "td",
          {},
          h("input", {
            type: "checkbox",
            "aria-label": `${label} by ${name.toLowerCase()}`,
            checked: (chosen[event] || []).includes(channel),
            onchange: (change) => save(event, channel, change.target.checked),
          }),
        ),
      ),
    ),
  );
  async function save(event, channel, on) {
    const channels = new Set(chosen[event] || []);
    if (on) channels.add(channel);
    else channels.delete(channel);
    status.textContent = "";
    error.textContent = "";
    try {
      const answer = await patch("/api/v1/auth/me", { notify: { [event]: [...channels] } });
      chosen = answer.user.notify;
      status.textContent = "Saved.";
      onSaved(answer.user);
    } catch (failure) {
      error.textContent = failure.message;
    }
  }
  const toggle = h("button", { type: "button" }, "Turn on push on this device");
  const pushState = h("span", {});
  async function showPushState() {
    if (!pushSupported()) {
      toggle.hidden = true;
      pushState.textContent = "This browser cannot receive push notifications.";
      return;
    }
    const on = Boolean(await currentSubscription().catch(() => null));
    toggle.textContent = on ? "Turn off push on this device" : "Turn on push on this device";
    toggle.dataset.on = on ? "yes" : "no";
  }
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    error.textContent = "";
    try {
      if (toggle.dataset.on === "yes") await disablePush();
      else await enablePush();
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      toggle.disabled = false;
      showPushState();
    }
  });
  showPushState();
  const actions = [toggle, pushState];
  if (me.role === "owner") {
    const test = h("button", { type: "button" }, "Send a test email");
    test.addEventListener("click", async () => {
      status.textContent = "";
      error.textContent = "";
      try {
        const answer = await post("/api/v1/email/test");
        status.textContent = `A test email is on its way to ${answer.to}.`;
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
    actions.push(test);
  }
  return h(
    "section",
    { class: "card", "aria-labelledby": "notify-title" },
    h("h2", { id: "notify-title" }, "Notifications"),
    h("p", {}, "Which events reach you when Omnichat is not open, and how."),
    h(
      "table",
      { class: "notify-table" },
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, "Event"), CHANNELS.map(([, n]) => h("th", { scope: "col" }, n))),
      ),
      h("tbody", {}, rows),
    ),
    h("div", { class: "notify-actions" }, actions),
    status,
    error,
  );
}
