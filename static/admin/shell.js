// The frame around every screen: main navigation, connection state, notifications, account.

import { h } from "./dom.js";
import {
  askDesktopPermission,
  desktopPermission,
  setSound,
  soundOn,
  unlockAudio,
} from "./notifications.js";
import { getState, subscribe } from "./store.js";

const RANK = { agent: 1, admin: 2, owner: 3 };
const LINKS = [
  { screen: "inbox", label: "Inbox", href: "/admin/inbox/open", role: "agent" },
  { screen: "users", label: "Users", href: "/admin/users", role: "admin" },
  { screen: "sites", label: "Sites", href: "/admin/sites", role: "admin" },
  { screen: "audit", label: "Audit log", href: "/admin/audit", role: "admin" },
  { screen: "export", label: "Export", href: "/admin/export", role: "admin" },
  { screen: "backups", label: "Backups", href: "/admin/backups", role: "owner" },
];
const CONNECTION = {
  live: "Live",
  connecting: "Connecting…",
  offline: "Offline, reconnecting…",
};

export function hasRole(me, role) {
  return Boolean(me) && (RANK[me.role] || 0) >= RANK[role];
}

/** Build the shell; returns {element, screen (the container for screens), destroy}. */
export function createShell({ onSignOut }) {
  const links = LINKS.map((link) => ({
    ...link,
    element: h("a", { href: link.href, class: "nav-link" }, link.label),
  }));
  const account = h("a", { href: "/admin/account", class: "nav-link account-link" });
  const connection = h("span", { class: "connection", role: "status" });
  const desktopButton = h("button", { type: "button", class: "ghost" });
  const soundButton = h("button", { type: "button", class: "ghost" });
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
      h("a", { href: "/admin/inbox/open", class: "brand" }, "Omnichat"),
      h(
        "nav",
        { class: "main-nav", "aria-label": "Main" },
        links.map((link) => link.element),
      ),
      h(
        "div",
        { class: "topbar-tools" },
        connection,
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
    for (const link of links) {
      const current =
        link.screen === state.route.screen ||
        (link.screen === "inbox" && state.route.screen === "followups");
      if (current) link.element.setAttribute("aria-current", "page");
      else link.element.removeAttribute("aria-current");
    }
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
