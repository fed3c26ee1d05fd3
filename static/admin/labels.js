// Labels: the tenant's list (in the store), coloured chips, the pane's checkbox list, and the
// inbox's label filter, which lives in the URL (?label=NAME) so a reload or a link keeps it.

import { get, put } from "./api.js";
import { h } from "./dom.js";
import { merge } from "./conversations.js";
import { getState, set } from "./store.js";

let loading = null;

/** (Re)load the tenant's labels into the store: [{id, name, color}]. */
export function loadLabels() {
  if (!loading) {
    loading = get("/api/v1/labels")
      .then((answer) => set({ labels: answer.labels || [] }))
      .finally(() => {
        loading = null;
      });
  }
  return loading;
}

const key = (name) => name.toLowerCase();

/** The colour of the label named `name` (any case), or null when it is not known here. */
export function labelColor(name) {
  const found = (getState().labels || []).find((label) => key(label.name) === key(name));
  return found ? found.color : null;
}

/** Whether `conversation` carries the label `name` (any case). */
export function hasLabel(conversation, name) {
  return (conversation.labels || []).some((label) => key(label) === key(name));
}

/** A label as a chip: its name as text, its colour on a dot and the border. */
export function chip(name, color) {
  const element = h(
    "span",
    { class: "label-chip" },
    h("span", { class: "label-dot", "aria-hidden": "true" }),
    name,
  );
  // CSSOM, not a style attribute: our CSP allows no inline styles, but custom properties set
  // from script are fine.
  if (color) element.style.setProperty("--label-color", color);
  return element;
}

/** The label filter from the page's URL (null when none). */
export function labelFromUrl() {
  return new URLSearchParams(location.search).get("label") || null;
}

/** Write the label filter into the URL (replacing the history entry), keeping the path. */
export function labelToUrl(label) {
  const params = new URLSearchParams(location.search);
  if (label) params.set("label", label);
  else params.delete("label");
  const query = params.toString();
  const url = `${location.pathname}${query ? `?${query}` : ""}${location.hash}`;
  if (url !== `${location.pathname}${location.search}${location.hash}`) {
    history.replaceState(history.state, "", url);
  }
}

/**
 * The pane's "Labels" group: one checkbox per tenant label; a change saves the whole set.
 * Returns {element, render(conversation)}; render updates the boxes in place (focus stays).
 */
export function labelEditor() {
  const legend = h("legend", {}, "Labels");
  const boxes = h("div", { class: "label-boxes" });
  const error = h("p", { class: "form-error", role: "alert" });
  const element = h("fieldset", { class: "label-editor" }, legend, boxes, error);
  let conversation = null;
  let drawnFor = ""; // the labels list the boxes were made for
  // The set being saved: until the server answers, a render (another update of the
  // conversation) shows what the agent ticked, not the labels from before.
  let saving = null;

  async function save() {
    const names = [...boxes.querySelectorAll("input:checked")].map((box) => box.value);
    saving = names;
    error.textContent = "";
    try {
      const answer = await put(`/api/v1/conversations/${conversation.id}/labels`, {
        labels: names,
      });
      if (saving === names) saving = null;
      merge(answer.conversation);
      set({ conversations: getState().conversations });
    } catch (failure) {
      if (saving === names) saving = null;
      error.textContent = failure.message;
      render(conversation);
    }
  }

  function render(current) {
    if (conversation && current.id !== conversation.id) saving = null;
    conversation = current;
    const labels = getState().labels || [];
    const signature = JSON.stringify(labels);
    if (signature !== drawnFor) {
      drawnFor = signature;
      boxes.replaceChildren(
        ...labels.map((label) =>
          h(
            "label",
            { class: "toggle label-box" },
            h("input", { type: "checkbox", value: label.name, onchange: save }),
            chip(label.name, label.color),
          ),
        ),
      );
      if (!labels.length) {
        boxes.append(h("p", { class: "muted-text" }, "No labels yet: an admin adds them."));
      }
    }
    for (const box of boxes.querySelectorAll("input")) {
      box.checked = saving ? saving.includes(box.value) : hasLabel(current, box.value);
    }
  }

  return { element, render };
}
