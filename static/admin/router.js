// history.pushState routing: every /admin/... path is the same page, so deep links survive a
// reload.

import { VIEW_TITLES } from "./conversations.js";
import { ROUTES } from "./routes.js";
import { getState, set } from "./store.js";

/** The route a path names: {screen, view, id}. Unknown paths fall back to the Waiting inbox. */
function parse(pathname) {
  const parts = pathname
    .replace(/^\/admin\/?/, "")
    .split("/")
    .filter(Boolean);
  const view = getState().route.view || "active";
  if (parts[0] === "conversations" && /^\d+$/.test(parts[1] || "")) {
    return { screen: "inbox", view, id: Number(parts[1]) };
  }
  if (parts[0] === "inbox") {
    const named = Object.hasOwn(VIEW_TITLES, parts[1] || "") ? parts[1] : "active";
    return { screen: "inbox", view: named, id: null };
  }
  if (ROUTES.some((route) => route.screen === parts[0])) {
    return { screen: parts[0], view, id: null };
  }
  return { screen: "inbox", view: "active", id: null };
}

export function navigate(path, { replace = false } = {}) {
  if (path !== location.pathname) {
    history[replace ? "replaceState" : "pushState"](null, "", path);
  }
  set({ route: parse(path) });
}

/** Follow the current URL, browser back/forward, and clicks on our own links without reloads. */
export function startRouter() {
  window.addEventListener("popstate", () => set({ route: parse(location.pathname) }));
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!link || link.target || link.hasAttribute("download")) return;
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith("/admin")) return;
    if (url.hash && url.pathname === location.pathname) return; // in-page anchors
    event.preventDefault();
    navigate(url.pathname);
  });
  set({ route: parse(location.pathname) });
}
