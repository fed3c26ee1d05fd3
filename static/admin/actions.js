// The conversation's actions: claim, assign to, close (with an inline confirmation), reopen.

import { post } from "./api.js";
import { merge } from "./conversations.js";
import { h } from "./dom.js";
import { loadStaff, presenceLabel } from "./presence.js";
import { getState, set, subscribe } from "./store.js";

/**
 * What the signed-in user may do about a conversation's assignee: the server's rule, once.
 * Admins and owners assign anyone (themselves included) and unassign; agents claim an
 * unassigned conversation and release their own, nothing else (the server answers 403).
 */
export function assignRights(me, conversation) {
  const current = conversation.assignee ? conversation.assignee.id : null;
  const admin = me.role === "admin" || me.role === "owner";
  return {
    claim: current !== me.id && (admin || current === null),
    release: current === me.id,
    assignOthers: admin,
  };
}

export function mountActions(host) {
  const error = h("p", { class: "form-error", role: "alert" });
  const claim = h(
    "button",
    { type: "button", class: "primary", onclick: () => assign(getState().me.id) },
    "Claim",
  );
  const release = h("button", { type: "button", onclick: () => assign(null) }, "Release");
  const assignee = h("select", { "aria-label": "Assign to", name: "assignee" });
  const close = h("button", { type: "button", onclick: () => confirming(true) }, "Close");
  const reopen = h("button", { type: "button", onclick: () => act("reopen") }, "Reopen");
  const confirmYes = h(
    "button",
    { type: "button", class: "danger", onclick: () => act("close") },
    "Close conversation",
  );
  const confirmNo = h("button", { type: "button", onclick: () => confirming(false) }, "Cancel");
  const confirm = h(
    "div",
    { class: "confirm", role: "group", "aria-label": "Confirm closing", hidden: true },
    h("span", {}, "Close this conversation? The visitor is told."),
    confirmYes,
    confirmNo,
  );
  host.replaceChildren(
    h("div", { class: "action-buttons" }, claim, release, assignee, close, reopen),
    confirm,
    error,
  );
  let conversation = null;
  let filledFor; // the assignee and team the options were built for
  // Presence changes (and a reloaded team) refresh the menu's "online" marks.
  const unsubscribe = subscribe((state, changed) => {
    if (changed.has("staff") && conversation) fillAssignees();
  });

  assignee.addEventListener("change", () => {
    if (assignee.value === "") return;
    assign(assignee.value === "none" ? null : Number(assignee.value));
  });

  function confirming(on) {
    confirm.hidden = !on;
    (on ? confirmYes : close).focus();
  }

  /**
   * The control that takes the focus after an action hid the one that had it: Claim becomes
   * Release, Close becomes Reopen, and back.
   */
  function keepFocus(had) {
    if (!had || !host.contains(had) || !had.hidden) {
      if (had && !had.hidden && had.isConnected && document.activeElement !== had) had.focus();
      return;
    }
    const after = { claim: release, release: claim, close: reopen, reopen: close };
    const named = Object.entries({ claim, release, close, reopen }).find(([, el]) => el === had);
    const next = [named && after[named[0]], claim, release, close, reopen].find(
      (el) => el && !el.hidden,
    );
    if (next) next.focus();
  }

  async function run(path, body, focusAfter) {
    error.textContent = "";
    const id = conversation.id;
    try {
      const answer = await post(`/api/v1/conversations/${id}/${path}`, body);
      if (answer && answer.conversation) {
        merge(answer.conversation);
        set({ conversations: getState().conversations });
      }
      keepFocus(focusAfter);
    } catch (failure) {
      error.textContent = failure.message;
      filledFor = undefined;
      render(conversation);
    }
  }

  function assign(userId) {
    const had = document.activeElement;
    return run("assign", { user_id: userId }, host.contains(had) ? had : null);
  }

  async function act(path) {
    confirm.hidden = true;
    // Confirmed closing: the focus was on the confirmation, now hidden; it goes to Reopen.
    await run(path, {}, path === "close" ? close : reopen);
  }

  async function fillAssignees() {
    const rights = conversation ? assignRights(getState().me, conversation) : null;
    if (!rights || !rights.assignOthers) {
      assignee.hidden = true;
      return;
    }
    const staff = await loadStaff();
    assignee.hidden = staff.length === 0;
    if (!conversation) return;
    const current = conversation.assignee ? conversation.assignee.id : null;
    if (filledFor && filledFor.current === current && filledFor.staff === staff) return;
    filledFor = { current, staff };
    assignee.replaceChildren(
      h("option", { value: "" }, "Assign to…"),
      h("option", { value: "none", disabled: current === null }, "Nobody (unassigned)"),
      ...staff.map((user) =>
        h(
          "option",
          { value: String(user.id), disabled: user.id === current },
          `${user.name || user.email} (${presenceLabel(user).toLowerCase()})`,
        ),
      ),
    );
    assignee.value = "";
  }

  function render(next) {
    conversation = next;
    const rights = assignRights(getState().me, conversation);
    const closed = conversation.status === "closed";
    // Only what the server permits is offered.
    claim.hidden = !rights.claim || closed;
    release.hidden = !rights.release || closed;
    close.hidden = closed;
    reopen.hidden = !closed;
    if (closed) confirm.hidden = true;
    fillAssignees();
  }

  return {
    render,
    reset() {
      confirm.hidden = true;
      error.textContent = "";
    },
    destroy: unsubscribe,
  };
}
