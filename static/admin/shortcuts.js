// Keyboard shortcuts for the inbox; never while the user types in a field.

import { visibleList } from "./conversations.js";
import { typingInField } from "./dom.js";
import { navigate } from "./router.js";
import { getState } from "./store.js";

function move(delta) {
  const { route } = getState();
  const list = visibleList();
  if (!list.length) return;
  const index = list.findIndex((conversation) => conversation.id === route.id);
  const next =
    index === -1
      ? delta > 0
        ? 0
        : list.length - 1
      : Math.min(list.length - 1, Math.max(0, index + delta));
  if (list[next].id !== route.id) navigate(`/admin/conversations/${list[next].id}`);
}

function focus(selector) {
  const element = document.querySelector(selector);
  if (!element || element.offsetParent === null) return false;
  element.focus();
  return true;
}

/** j / Alt+ArrowDown: next conversation; k / Alt+ArrowUp: previous; r: reply; /: search. */
export function installShortcuts() {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || typingInField(event) || event.ctrlKey || event.metaKey) return;
    if (getState().route.screen !== "inbox") return;
    const key = event.key;
    let handled = true;
    if ((key === "j" && !event.altKey) || (key === "ArrowDown" && event.altKey)) move(1);
    else if ((key === "k" && !event.altKey) || (key === "ArrowUp" && event.altKey)) move(-1);
    else if (key === "r" && !event.altKey) handled = focus(".composer textarea");
    else if (key === "/" && !event.altKey) handled = focus(".search input");
    else handled = false;
    if (handled) event.preventDefault();
  });
}
