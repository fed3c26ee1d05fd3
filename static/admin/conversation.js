// The conversation pane: header with actions, transcript, visitor details, typing, reply box.

import { mountActions } from "./actions.js";
import { uploadTray } from "./attachments.js";
import { channelLabel, isTexted, loadChannels, textingNotice } from "./channels.js";
import { visitorName } from "./conversations.js";
import { detailsElement, lazyDetails } from "./details.js";
import { h } from "./dom.js";
import { keyedList } from "./keyed.js";
import { labelEditor } from "./labels.js";
import { drawPending, messageElement } from "./message.js";
import { attachPicker } from "./picker.js";
import { getState, set, subscribe } from "./store.js";
import { sendReply } from "./transcript.js";

const TYPING_REPEAT_MS = 3_000;
const TYPING_IDLE_MS = 4_000;
const NEAR_BOTTOM_PX = 80;

function typingText(state, id) {
  const typing = state.typing.get(id);
  if (!typing || typing.until < Date.now()) return "";
  // Agents' frames carry their user_id; the visitor's carry only a name.
  if (typing.userId !== undefined && typing.userId !== null) {
    if (state.me && typing.userId === state.me.id) return "";
    return `${typing.by || "An agent"} (agent) is typing…`;
  }
  return `${typing.by || "Visitor"} is typing…`;
}

export function mountConversation(host, services) {
  const title = h("h2", { class: "pane-title", id: "pane-title" });
  const channel = h("span", { class: "tag channel" });
  const status = h("span", { class: "tag" });
  const actionsHost = h("div", { class: "pane-actions" });
  const log = h("div", {
    class: "transcript",
    role: "log",
    "aria-label": "Transcript",
    tabIndex: 0,
  });
  const pendingList = h("div", { class: "pending-list" });
  // Redrawn on every transcript change otherwise, taking the focus off a failed reply's Retry.
  const pendings = keyedList(pendingList, {
    key: (pending) => pending.client_id,
    create: () => h("article"),
    draw: (element, model, pending) => drawPending(element, model, pending.client_id),
  });
  const notice = h("p", { class: "pane-notice", role: "status" });
  const channelNotice = h("p", { class: "pane-notice warning-text", role: "status" });
  const seenNote = h("p", { class: "seen" });
  const detailsInfo = h("div");
  const labels = labelEditor();
  // Pages visited and earlier conversations: fetched once on screen, kept across redraws.
  const extras = lazyDetails();
  // Scrolls on its own when long: focusable, named by its label.
  const details = h(
    "aside",
    { class: "details", id: "visitor-details", "aria-label": "Visitor details", tabIndex: 0 },
    detailsInfo,
    labels.element,
    extras.element,
  );
  // Phones only (CSS hides both elsewhere): the list and the pane are separate screens there, and
  // the details fold away so the transcript keeps the height.
  const back = h(
    "a",
    { href: "/admin/inbox/open", class: "back-link", "aria-label": "Back to inbox" },
    "‹ Back",
  );
  const detailsToggle = h(
    "button",
    {
      type: "button",
      class: "details-toggle",
      "aria-expanded": "false",
      "aria-controls": "visitor-details",
    },
    "Details",
  );
  const typing = h("p", { class: "typing", "aria-live": "polite" });
  const reply = h("textarea", {
    name: "reply",
    rows: 3,
    "aria-label": "Reply",
    placeholder: "Write a reply. Enter sends, Shift+Enter adds a line, / inserts a canned reply.",
    maxLength: 4000,
  });
  // Before the composer's own keydown handler: while the picker is open, Enter inserts.
  const picker = attachPicker(reply, () => {
    const state = getState();
    const conversation = state.conversations.get(shownId);
    const visitor = conversation && conversation.visitor && conversation.visitor.name;
    return { visitor: visitor || "", agent: (state.me && state.me.name) || "" };
  });
  const privateBox = h("input", { type: "checkbox", name: "private" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  // Files: the button, a pasted image or a dropped file upload at once and wait in the tray.
  const fileProblem = h("p", { class: "form-error", role: "alert" });
  const tray = uploadTray((text) => (fileProblem.textContent = text));
  const fileInput = h("input", { type: "file", multiple: true, hidden: true, "aria-label": "Attach a file" });
  const attach = h("button", { type: "button", class: "ghost attach" }, "Attach a file");
  attach.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    fileProblem.textContent = "";
    tray.add(fileInput.files);
    fileInput.value = "";
  });
  reply.addEventListener("paste", (event) => {
    const files = event.clipboardData && event.clipboardData.files;
    if (!files || !files.length) return;
    event.preventDefault();
    fileProblem.textContent = "";
    tray.add(files);
  });
  const composer = h(
    "form",
    { class: "composer", "aria-label": "Reply to the visitor" },
    picker.element,
    tray.element,
    fileProblem,
    reply,
    h(
      "div",
      { class: "composer-bar" },
      h("label", { class: "toggle" }, privateBox, h("span", {}, "Private note (agents only)")),
      h("span", { class: "composer-actions" }, fileInput, attach, send),
    ),
  );
  const dropping = (event) => event.dataTransfer && event.dataTransfer.types.includes("Files");
  composer.addEventListener("dragover", (event) => {
    if (!dropping(event)) return;
    event.preventDefault();
    composer.classList.add("dropping");
  });
  composer.addEventListener("dragleave", () => composer.classList.remove("dropping"));
  composer.addEventListener("drop", (event) => {
    composer.classList.remove("dropping");
    if (!dropping(event)) return;
    event.preventDefault();
    fileProblem.textContent = "";
    tray.add(event.dataTransfer.files);
  });
  const pane = h(
    "section",
    { class: "pane", "aria-labelledby": "pane-title" },
    h(
      "header",
      { class: "pane-head" },
      h("div", { class: "pane-heading" }, back, title, channel, status, detailsToggle),
      actionsHost,
    ),
    h(
      "div",
      { class: "pane-body" },
      h(
        "div",
        { class: "thread" },
        log,
        pendingList,
        seenNote,
        notice,
        channelNotice,
        typing,
        composer,
      ),
      details,
    ),
  );
  detailsToggle.addEventListener("click", () => {
    const open = pane.classList.toggle("details-open");
    detailsToggle.setAttribute("aria-expanded", String(open));
  });
  const emptyState = h("div", { class: "pane-empty" }, h("p", {}, "Select a conversation."));
  host.replaceChildren(emptyState);
  const actions = mountActions(actionsHost);

  let shownId = null;
  let rendered = new Map(); // seq -> {message, retry, element}
  let newestRendered = 0;
  let typingSentAt = 0;
  let typingPrivate = false;
  let idleTimer = 0;
  let typingTimer = 0;

  function stopTyping(id) {
    clearTimeout(idleTimer);
    if (typingSentAt && id) {
      services.socket.send({
        type: "typing",
        conversation_id: id,
        on: false,
        private: typingPrivate,
      });
    }
    typingSentAt = 0;
  }

  reply.addEventListener("input", () => {
    const id = shownId;
    if (!id || !reply.value.trim()) {
      stopTyping(id);
      return;
    }
    if (Date.now() - typingSentAt > TYPING_REPEAT_MS) {
      // A private note's typing reaches other agents only.
      typingPrivate = privateBox.checked;
      services.socket.send({
        type: "typing",
        conversation_id: id,
        on: true,
        private: typingPrivate,
      });
      typingSentAt = Date.now();
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => stopTyping(id), TYPING_IDLE_MS);
  });
  reply.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  privateBox.addEventListener("change", () => {
    composer.classList.toggle("private", privateBox.checked);
    send.textContent = privateBox.checked ? "Add note" : "Send";
    stopTyping(shownId);
    renderComposer(getState().conversations.get(shownId));
  });
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = reply.value.trim();
    if (!shownId || send.disabled) return;
    const files = tray.take();
    if (files === null || (!text && !files.length)) return;
    fileProblem.textContent = "";
    stopTyping(shownId);
    sendReply(shownId, text, privateBox.checked, files);
    reply.value = "";
    reply.focus();
  });

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
  }

  function renderTranscript(state, transcript) {
    const stick = nearBottom() || rendered.size === 0;
    if (transcript.loading) notice.textContent = "Loading…";
    else notice.textContent = transcript.error || "";
    for (const message of transcript.messages) {
      const retry = transcript.retries.get(message.id);
      const entry = rendered.get(message.seq);
      if (entry) {
        if (!sameDelivery(entry.message, message) || entry.retry !== retry) {
          redraw(entry, message, retry, state);
        }
        entry.message = message;
        continue;
      }
      const element = messageElement(message, state, retry);
      // Usually an append; an earlier seq filling a gap goes before the first later one.
      const later =
        message.seq > newestRendered ? [] : [...rendered.keys()].filter((seq) => seq > message.seq);
      rendered.set(message.seq, { message, retry, element });
      newestRendered = Math.max(newestRendered, message.seq);
      log.insertBefore(element, later.length ? rendered.get(Math.min(...later)).element : null);
    }
    pendings.render(transcript.pending, (pending) => ({
      conversation: transcript.id,
      text: pending.text,
      private: pending.private,
      attachments: pending.attachments,
      failed: pending.failed,
      refused: pending.refused,
    }));
    if (stick) log.scrollTop = log.scrollHeight;
  }

  /** A message whose delivery (or retry) changed is drawn again, keeping the focus inside. */
  function redraw(entry, message, retry, state) {
    const element = messageElement(message, state, retry);
    const focused = entry.element.contains(document.activeElement);
    entry.element.replaceWith(element);
    entry.element = element;
    entry.retry = retry;
    if (focused) (element.querySelector("button") || log).focus();
  }

  function renderHead(state, conversation) {
    back.href = `/admin/inbox/${state.route.view || "open"}`;
    title.textContent = visitorName(conversation);
    title.title = title.textContent; // the full name, where the heading cuts it short
    channel.textContent = channelLabel(conversation.channel);
    channel.className = `tag channel ${conversation.channel || "web"}`;
    status.textContent = conversation.status;
    status.className = `tag ${conversation.status}`;
    detailsInfo.replaceChildren(detailsElement(conversation));
    labels.render(conversation);
    extras.render(conversation);
    actions.render(conversation);
    renderComposer(conversation);
  }

  /** A closed conversation takes notes only: the visitor was told it ended (reopen to reply). */
  function renderComposer(conversation) {
    const closed = Boolean(conversation) && conversation.status === "closed";
    send.disabled = closed && !privateBox.checked;
    reply.placeholder =
      closed && !privateBox.checked
        ? "This conversation is closed: reopen it to reply, or write a private note."
        : "Write a reply. Enter sends, Shift+Enter adds a line, / inserts a canned reply.";
  }

  function renderSeen(state, transcript) {
    const seen = state.seen.get(transcript.id) || 0;
    const answers = transcript.messages.filter((m) => m.sender === "agent" && !m.private);
    const last = answers.length ? answers[answers.length - 1].seq : 0;
    seenNote.textContent = last && seen >= last ? "Seen by the visitor" : "";
  }

  function renderTyping(state) {
    clearTimeout(typingTimer);
    typing.textContent = shownId ? typingText(state, shownId) : "";
    const entry = shownId && state.typing.get(shownId);
    if (entry && entry.until > Date.now()) {
      typingTimer = setTimeout(() => renderTyping(getState()), entry.until - Date.now() + 50);
    }
  }

  function render(state, changed) {
    const transcript = state.transcript;
    const id = transcript ? transcript.id : null;
    if (id !== shownId) {
      stopTyping(shownId);
      shownId = id;
      rendered = new Map();
      newestRendered = 0;
      log.replaceChildren();
      reply.value = "";
      tray.clear();
      fileProblem.textContent = "";
      picker.close();
      actions.reset();
      host.replaceChildren(id ? pane : emptyState);
    }
    if (!id) return;
    const conversation = state.conversations.get(id);
    if (isTexted(conversation)) loadChannels();
    if (changed.has("channels") || changed.has("conversations") || changed.has("transcript")) {
      // Replies in a texted conversation that cannot go out (texting off, sending paused).
      channelNotice.textContent = isTexted(conversation) ? textingNotice(state.channels) : "";
    }
    // `me` too: what the caller may do (claim, assign) follows their role.
    const headChanged = ["conversations", "transcript", "me"].some((key) => changed.has(key));
    if (conversation && headChanged) {
      renderHead(state, conversation);
    } else if (conversation && changed.has("labels")) labels.render(conversation);
    if (changed.has("transcript")) renderTranscript(state, transcript);
    if (changed.has("transcript") || changed.has("seen")) renderSeen(state, transcript);
    if (changed.has("typing") || changed.has("transcript")) renderTyping(state);
  }

  render(getState(), new Set(["transcript", "conversations", "typing", "seen"]));
  const unsubscribe = subscribe(render);
  return {
    destroy() {
      stopTyping(shownId);
      clearTimeout(typingTimer);
      unsubscribe();
      actions.destroy();
      extras.destroy();
    },
  };
}

function sameDelivery(a, b) {
  // Also the files: those of a contact's MMS arrive after the text (message.updated).
  const files = (m) => (m.attachments || []).map((file) => file.id).join();
  return JSON.stringify(a.delivery) === JSON.stringify(b.delivery) && files(a) === files(b);
}

/** Record how far the visitor has read: {conversation_id, seq}. */
export function applySeen(frame) {
  const seen = getState().seen;
  seen.set(frame.conversation_id, Math.max(frame.seq, seen.get(frame.conversation_id) || 0));
  set({ seen });
}

/** Record a typing frame from the socket: {conversation_id, on, by}. */
export function applyTyping(frame) {
  const typing = getState().typing;
  if (frame.on) {
    typing.set(frame.conversation_id, {
      by: frame.by,
      userId: frame.user_id,
      until: Date.now() + 8_000,
    });
  } else typing.delete(frame.conversation_id);
  set({ typing });
}
