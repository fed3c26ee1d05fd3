// The frame around every screen: main navigation, connection state, availability switch,
// notifications, account.

import { h } from "./dom.js";
import {
  askDesktopPermission,
  desktopPermission,
  setSound,
  soundOn,
  unlockAudio,
} from "./notifications.js";
import { setAvailability } from "./presence.js";
import { hasRole, routeFor, ROUTES } from "./routes.js";
import { getState, subscribe } from "./store.js";

const CONNECTION = {
  live: "Live",
  connecting: "Connecting…",
  offline: "Offline, reconnecting…",
};

/** Build the shell; returns {element, screen (the container for screens), destroy}. */
export function createShell({ onSignOut }) {
  const links = ROUTES.filter((route) => route.menu).map((route) => ({
    ...route,
    element: h("a", { href: route.path, class: "nav-link" }, route.menu),
  }));
  const account = h("a", { href: "/admin/account", class: "nav-link account-link" });
  const connection = h("span", { class: "connection", role: "status" });
  const desktopButton = h("button", { type: "button", class: "ghost" });
  const soundButton = h("button", { type: "button", class: "ghost" });
  // The availability switch: "online" takes chats (and auto-assignment) while a tab is open.
  const availability = h("button", {
    type: "button",
    role: "switch",
    class: "ghost availability",
    "aria-label": "Available for chats",
  });
  const availabilityError = h("span", { class: "availability-error", role: "alert" });
  availability.addEventListener("click", async () => {
    const on = availability.getAttribute("aria-checked") === "true";
    availability.disabled = true;
    availabilityError.textContent = "";
    try {
      await setAvailability(on ? "away" : "online");
    } catch (failure) {
      availabilityError.textContent = failure.message;
    } finally {
      availability.disabled = false;
    }
  });
  const screen = h("main", { id: "screen", class: "screen", tabIndex: -1 });

  function renderDesktop() {
    const permission = desktopPermission();
    desktopButton.hidden = permission === "unsupported";
    desktopButton.textContent =
      permission === "granted" ? "Desktop alerts on" : "Enable desktop alerts";
    desktopButton.disabled = permission !== "default";
    if (permission === "denied") desktopButton.textContent = "Desktop alerts blocked";
  }
  function renderSound() {
    soundButton.textContent = soundOn() ? "Sound on" : "Sound off";
    soundButton.setAttribute("aria-pressed", String(soundOn()));
  }
  desktopButton.addEventListener("click", async () => {
    unlockAudio();
    await askDesktopPermission();
    renderDesktop();
  });
  soundButton.addEventListener("click", () => {
    setSound(!soundOn());
    renderSound();
  });
  renderDesktop();
  renderSound();

  const element = h(
    "div",
    { class: "shell" },
    h("a", { href: "#screen", class: "skip-link" }, "Skip to content"),
    h(
      "header",
      { class: "topbar" },
      h("a", { href: "/admin/inbox/active", class: "brand" }, "Omnichat"),
      h(
        "nav",
        { class: "main-nav", "aria-label": "Main" },
        links.map((link) => link.element),
      ),
      h(
        "div",
        { class: "topbar-tools" },
        connection,
        availability,
        availabilityError,
        soundButton,
        desktopButton,
        account,
        h("button", { type: "button", class: "ghost", onclick: onSignOut }, "Sign out"),
      ),
    ),
    screen,
  );

  function render(state) {
    // The role can change while signed in (an admin changed it): the menu follows.
    for (const link of links) link.element.hidden = !hasRole(state.me, link.role);
    account.textContent = state.me.name || state.me.email;
    const section = routeFor(state.route.screen).within || state.route.screen;
    for (const link of links) {
      const current = link.screen === section;
      if (current) link.element.setAttribute("aria-current", "page");
      else link.element.removeAttribute("aria-current");
    }
    const on = state.me.availability !== "away";
    availability.setAttribute("aria-checked", String(on));
    availability.textContent = on ? "Online" : "Away";
    availability.dataset.state = on ? "online" : "away";
    connection.textContent = CONNECTION[state.connection] || "";
    connection.dataset.state = state.connection;
  }
  render(getState());
  const unsubscribe = subscribe((state, changed) => {
    if (changed.has("route") || changed.has("connection") || changed.has("me")) {
      if (state.me) render(state);
    }
  });
  return { element, screen, destroy: unsubscribe };
}
