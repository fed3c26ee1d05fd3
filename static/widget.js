/* Omnichat chat widget: <script src="https://HOST/widget.js" data-site="SITE_KEY" async></script>
 * Plain JS, no dependency, no build step. It renders in an open shadow root, so the host page's
 * CSS cannot reach in nor ours out; its only global is window.Omnichat. See docs/protocol.md. */
(function () {
  "use strict";
  if (window.Omnichat && window.Omnichat.version) return; // loaded twice: the first one wins

  // currentScript is null when run from a callback: then find our tag.
  const script =
    document.currentScript || document.querySelector("script[data-site][src*='/widget.js']");
  if (!script || !script.dataset.site) return;
  const data = script.dataset;
  const BASE = new URL(script.src, location.href).origin;
  const SITE = data.site;
  const MAX_TEXT = 4000;

  const strings = {
    openChat: "Open chat",
    closeChat: "Close chat",
    unread: "{n} unread",
    title: "Chat with us",
    close: "Close",
    menu: "More options",
    leaveMessage: "Leave a message",
    hint: "Hi! Send us a message and we will answer here.",
    conversation: "Conversation",
    you: "You",
    staff: "Staff",
    typing: "Staff is typing...",
    message: "Message",
    placeholder: "Write a message…",
    send: "Send",
    sending: "Sending…",
    notSent: "Not sent",
    tooLong: "A message can be at most 4000 characters.",
    connecting: "Connecting…",
    online: "Connected",
    staffOnline: "We're online",
    staffAway: "We'll get back to you",
    awayHint: "No one is online right now. Leave your details and we will get back to you.",
    offline: "Offline: your messages will be sent when the connection is back.",
    unavailable: "Chat is unavailable right now.",
    failed: "Sorry, that did not work. Please try again.",
  };

  const CSS = `
:host{all:initial!important;position:fixed!important;top:0!important;left:0!important;
  width:0!important;height:0!important;z-index:2147483000!important;display:block!important;
  --oc-primary:#0b5cad;--oc-on-primary:#fff;--oc-bg:#fff;--oc-text:#1f2328;--oc-muted:#57606a;
  --oc-bubble:#eef1f4;--oc-border:#8c959f;--oc-error:#b3261e;--oc-radius:12px;
  --oc-font:system-ui,sans-serif}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.oc{font:16px/1.45 var(--oc-font);color:var(--oc-text)}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--oc-text);outline-offset:2px}
.launcher{position:fixed;bottom:20px;right:20px;width:56px;height:56px;padding:0;border:0;
  border-radius:50%;background:var(--oc-primary);color:var(--oc-on-primary);
  box-shadow:0 4px 14px rgba(0,0,0,.3);display:grid;place-items:center}
.launcher svg{width:28px;height:28px;fill:currentColor}
.badge{position:absolute;top:-4px;right:-4px;min-width:22px;padding:0 6px;border-radius:11px;
  background:var(--oc-error);color:#fff;font:700 12px/22px var(--oc-font)}
.badge:empty{display:none}
.panel{position:fixed;bottom:88px;right:20px;width:370px;height:min(600px,calc(100vh - 110px));
  display:flex;flex-direction:column;background:var(--oc-bg);border-radius:var(--oc-radius);
  box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden}
.left .launcher,.left .panel{right:auto;left:20px}
header{position:relative;display:flex;align-items:center;gap:4px;padding:8px 8px 8px 16px;
  background:var(--oc-primary);color:var(--oc-on-primary)}
header :focus-visible{outline-color:var(--oc-on-primary)}
.heading{flex:1;min-width:0}
h2{margin:0;font-size:17px;font-weight:600}
.state{margin:0;font-size:14px}
.icon{width:40px;height:40px;border:0;border-radius:8px;background:none;font-size:22px}
.menu{position:absolute;top:calc(100% - 4px);right:8px;z-index:1;padding:4px 0;
  background:var(--oc-bg);color:var(--oc-text);border:1px solid var(--oc-border);border-radius:8px}
.menu button{width:100%;padding:10px 16px;border:0;background:none;text-align:left}
.menu button:hover,.menu button:focus{background:var(--oc-bubble)}
.log{flex:1;overflow-y:auto;padding:12px 16px;display:flex;flex-direction:column;gap:10px}
.hint{margin:0;color:var(--oc-muted);text-align:center}
.msg{max-width:85%;align-self:flex-start}
.msg.visitor{align-self:flex-end;text-align:right}
.msg.system{align-self:center;max-width:100%;text-align:center}
.meta{margin:0 0 2px;font-size:14px;color:var(--oc-muted)}
.text{margin:0;padding:8px 12px;border-radius:var(--oc-radius);background:var(--oc-bubble);
  white-space:pre-wrap;overflow-wrap:anywhere;text-align:left}
.visitor .text{background:var(--oc-primary);color:var(--oc-on-primary)}
.system .text{background:none;padding:0;color:var(--oc-muted);text-align:center}
.text a{color:inherit}
.typing,.note,.problem{margin:0;padding:0 16px 6px;font-size:15px;color:var(--oc-muted)}
.failed .meta,.error,.problem{color:var(--oc-error)}
.typing:empty,.problem:empty{display:none}
input,textarea{display:block;width:100%;margin-top:2px;padding:8px 10px;background:var(--oc-bg);
  border:1px solid var(--oc-border);border-radius:8px;font-size:16px}
.primary{height:44px;padding:0 16px;border-radius:8px;font-weight:600;border:0;
  background:var(--oc-primary);color:var(--oc-on-primary)}
.composer{display:flex;align-items:flex-end;gap:8px;padding:8px 12px 12px;
  border-top:1px solid var(--oc-border)}
.composer textarea{flex:1;resize:none;min-height:40px;max-height:8em;field-sizing:content}
@media (max-width:480px){
  .panel,.left .panel{top:0;right:0;bottom:0;left:0;width:auto;height:auto;border-radius:0}
  .open .launcher{display:none}
}`;

  // Storage may be blocked (privacy modes, sandboxed frames): then memory stands in for it.
  const PREFIX = "omnichat:" + SITE + ":";
  const memory = {};
  let blocked = false;
  function local(method, key, value) {
    try {
      if (!blocked) return { value: localStorage[method](PREFIX + key, value) };
    } catch (e) {
      blocked = true;
    }
  }
  const store = {
    get: (key) => (local("getItem", key) || { value: key in memory ? memory[key] : null }).value,
    set: (key, value) => local("setItem", key, value) || (memory[key] = String(value)),
    del: (key) => local("removeItem", key) || delete memory[key],
  };
  // An open panel stays open across the site's pages (per tab).
  function session(value) {
    try {
      if (value == null) return sessionStorage.getItem(PREFIX + "open") === "1";
      sessionStorage.setItem(PREFIX + "open", value ? "1" : "");
    } catch (e) {}
  }

  const options = { title: "", greeting: "", sound: false };
  const timers = {};
  const listeners = {};
  const messages = new Map(); // seq -> Message, as stored by the server
  const pendingNodes = new Map(); // client_id -> node of a message still in the outbox
  let token = store.get("token");
  let site = {};
  let conversation = null;
  let lastSeq = 0;
  let seenSeq = Number(store.get("seen")) || 0;
  let seenSent = 0;
  let unread = 0;
  let isOpen = false;
  let ready = null; // {visitor} once the first session answered
  let state = "idle";
  let starting = null;
  let sessionFailures = 0;
  let identity = null;
  let identityWaiters = [];
  let typingSent = false;
  let staffOnline = true;
  let statusAt = 0;
  let pageSent = null;

  // ---- DOM

  const bound = [];
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function attrs(node, map) {
    for (const key in map) node.setAttribute(key, map[key]);
    return node;
  }
  // Ties a node's text (or an attribute) to a string key, so setStrings() can repaint it.
  function say(node, key, attr) {
    bound.push([node, key, attr]);
    put(node, key, attr);
    return node;
  }
  function put(node, key, attr) {
    if (attr) node.setAttribute(attr, strings[key]);
    else node.textContent = strings[key];
  }
  function button(cls, key, text) {
    const node = el("button", cls, text);
    node.type = "button";
    return text == null ? say(node, key) : say(node, key, "aria-label");
  }

  const host = document.createElement("omnichat-widget");
  const shadow = host.attachShadow({ mode: "open" });
  const root = el("div", "oc");
  root.lang = "en";

  const launcher = attrs(el("button", "launcher"), {
    type: "button",
    "aria-expanded": "false",
    "aria-controls": "oc-panel",
  });
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  attrs(svg, { viewBox: "0 0 24 24", "aria-hidden": "true" });
  const bubble = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z";
  path.setAttribute("d", bubble);
  svg.append(path);
  const badge = attrs(el("span", "badge"), { "aria-hidden": "true" });
  launcher.append(svg, badge);

  const panel = attrs(el("section", "panel"), {
    id: "oc-panel",
    role: "dialog",
    "aria-labelledby": "oc-title",
  });
  panel.hidden = true;
  const title = attrs(el("h2"), { id: "oc-title" });
  const status = attrs(el("p", "state"), { role: "status" });
  const heading = el("div", "heading");
  heading.append(title, status);
  const menuButton = attrs(button("icon", "menu", "⋮"), {
    "aria-haspopup": "menu",
    "aria-expanded": "false",
    "aria-controls": "oc-menu",
  });
  const closeButton = button("icon", "close", "×");
  const menu = attrs(el("div", "menu"), { id: "oc-menu", role: "menu" });
  menu.hidden = true;
  const leaveItem = attrs(button("", "leaveMessage"), { role: "menuitem" });
  menu.append(leaveItem);
  const header = el("header");
  header.append(heading, menuButton, closeButton, menu);

  const log = attrs(el("div", "log"), { role: "log", tabindex: "0" });
  say(log, "conversation", "aria-label");
  const hint = el("p", "hint");
  log.append(hint);
  const typing = attrs(el("p", "typing"), { "aria-live": "polite" });
  const problem = attrs(el("p", "problem"), { role: "alert" });
  const note = attrs(el("p", "note"), { role: "status" });
  note.hidden = true;

  const composer = el("form", "composer");
  const input = el("textarea");
  input.rows = 1;
  say(input, "message", "aria-label");
  say(input, "placeholder", "placeholder");
  composer.append(input, say(el("button", "primary"), "send"));

  panel.append(header, log, typing, note, problem, composer);
  root.append(launcher, panel);

  // Constructable stylesheets pass a `style-src 'self'` CSP; <style> is the fallback.
  function sheet(css) {
    try {
      const made = new CSSStyleSheet();
      made.replaceSync(css);
      shadow.adoptedStyleSheets = shadow.adoptedStyleSheets.concat(made);
      return (text) => made.replaceSync(text);
    } catch (e) {
      const style = shadow.appendChild(el("style", "", css));
      return (text) => (style.textContent = text);
    }
  }
  sheet(CSS);
  const theme = sheet("");
  shadow.append(root);

  // ---- rendering

  function whoOf(m) {
    if (m.sender === "visitor") return strings.you;
    if (m.sender === "agent") return (m.author && m.author.name) || strings.staff;
    return titleText();
  }
  // The bootstrap site's name is no title for visitors.
  function titleText() {
    const name = site.name !== "Default site" && site.name;
    return options.title || name || strings.title;
  }
  function clock(iso) {
    const date = new Date(iso);
    if (isNaN(date)) return "";
    const format = { hour: "2-digit", minute: "2-digit" };
    if (date.toDateString() !== new Date().toDateString()) {
      Object.assign(format, { day: "numeric", month: "short" });
    }
    return date.toLocaleString(undefined, format);
  }
  // Text only: links become <a> for http(s) URLs; nothing is ever parsed as HTML.
  function linkify(node, text) {
    let at = 0;
    for (const match of text.matchAll(/\bhttps?:\/\/[^\s<>"]+/gi)) {
      const raw = match[0].replace(/[.,;:!?)\]}'"]+$/, "");
      node.append(text.slice(at, match.index));
      at = match.index + raw.length;
      let url = null;
      try {
        url = new URL(raw);
      } catch (e) {}
      if (url && (url.protocol === "http:" || url.protocol === "https:")) {
        const link = attrs(el("a", "", raw), { rel: "noopener noreferrer nofollow" });
        link.target = "_blank";
        link.href = url.href;
        node.append(link);
      } else node.append(raw);
    }
    node.append(text.slice(at));
  }
  function messageNode(m, when) {
    const node = el("div", "msg " + m.sender);
    const meta = el("p", "meta");
    meta.append(el("span", "who", whoOf(m)), " · ", when);
    const text = el("p", "text");
    linkify(text, m.text);
    node.append(meta, text);
    if (m.attachments && m.attachments.length) {
      const files = el("div", "files");
      node.append(files);
      part("attach").then((attach) => attach.show(files, m));
    }
    return node;
  }
  // Stored messages in seq order, then the ones still being sent.
  function place(node, seq) {
    let before = null;
    for (const child of log.children) {
      const seqOf = child.dataset.seq;
      if (seqOf ? Number(seqOf) > seq : child.classList.contains("pending")) {
        before = child;
        break;
      }
    }
    log.insertBefore(node, seq == null ? null : before);
  }
  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  }
  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }
  function add(list) {
    const stick = atBottom();
    let news = false;
    for (const m of list || []) {
      if (!m || m.private || messages.has(m.seq)) continue; // already shown: a resend or replay
      messages.set(m.seq, m);
      lastSeq = Math.max(lastSeq, m.seq);
      if (pendingNodes.has(m.client_id)) unqueue(m.client_id);
      const time = attrs(el("time", "", clock(m.created_at)), { datetime: m.created_at });
      const node = messageNode(m, time);
      node.dataset.seq = m.seq;
      place(node, m.seq);
      if (ready) {
        emit("message", m);
        news = news || m.sender !== "visitor";
      }
    }
    if (news) {
      showTyping(false);
      beep();
    }
    if (stick) scrollDown();
    paint();
    markSeen();
  }
  function addPending(item) {
    const node = messageNode({ sender: "visitor", text: item.text }, strings.sending);
    node.classList.add("pending");
    pendingNodes.set(item.client_id, node);
    place(node, null);
    scrollDown();
    paint();
  }
  function reset() {
    for (const node of log.querySelectorAll("[data-seq]")) node.remove();
    messages.clear();
    lastSeq = seenSeq = seenSent = 0;
    store.del("seen");
    store.del("prechat");
    conversation = null;
    paint();
  }

  function paint() {
    title.textContent = titleText();
    const staff = strings[staffOnline ? "staffOnline" : "staffAway"];
    status.textContent = (strings[state] || "") + (state === "online" ? " · " + staff : "");
    hint.textContent = staffOnline ? options.greeting || strings.hint : strings.awayHint;
    hint.hidden = messages.size + pendingNodes.size > 0;
    unread = 0;
    for (const m of messages.values()) if (m.seq > seenSeq && m.sender !== "visitor") unread++;
    badge.textContent = unread ? String(unread) : "";
    const name = strings[isOpen ? "closeChat" : "openChat"];
    const count = unread ? ", " + strings.unread.replace("{n}", unread) : "";
    launcher.setAttribute("aria-label", name + count);
  }
  function repaint() {
    for (const [node, key, attr] of bound) put(node, key, attr);
    for (const node of log.querySelectorAll("[data-seq] .who")) {
      node.textContent = whoOf(messages.get(Number(node.closest("[data-seq]").dataset.seq)));
    }
    if (typing.textContent) typing.textContent = strings.typing;
    paint();
  }
  function setState(next) {
    if (next === state) return;
    state = next;
    paint();
    emit("connection", next);
  }
  function showTyping(on) {
    clearTimeout(timers.shown);
    typing.textContent = on ? strings.typing : "";
    if (on) timers.shown = setTimeout(showTyping, 15000, false); // a lost "off" must not stick
  }
  function showProblem(text) {
    problem.textContent = text;
    clearTimeout(timers.problem);
    timers.problem = setTimeout(() => (problem.textContent = ""), 8000);
  }

  // ---- panel, menu, keyboard

  // On a phone the panel covers the page: modal, with the page behind locked.
  const phone = matchMedia("(max-width:480px)");
  let pageOverflow = null;
  function lockPage(lock) {
    const style = document.documentElement.style;
    if (lock && pageOverflow === null) {
      pageOverflow = style.overflow;
      style.overflow = "hidden";
    } else if (!lock && pageOverflow !== null) {
      style.overflow = pageOverflow;
      pageOverflow = null;
    }
  }
  function modal() {
    const on = isOpen && phone.matches;
    lockPage(on);
    panel.setAttribute("aria-modal", String(on));
  }
  phone.addEventListener("change", modal);
  function show(opened) {
    isOpen = opened;
    panel.hidden = !opened;
    modal();
    root.classList.toggle("open", opened);
    launcher.setAttribute("aria-expanded", String(opened));
    session(opened);
    paint();
    emit(opened ? "open" : "close");
  }
  function open(focus) {
    if (!isOpen) {
      show(true);
      scrollDown();
      markSeen();
      if (!token) startSession(); // a first-time visitor gets a session when they first open
      else offerPrechat(false);
      checkStaff();
      part("attach");
    }
    if (focus) input.focus();
  }
  function close() {
    if (!isOpen) return;
    const focused = panel.contains(shadow.activeElement);
    showMenu(false);
    if (focused) launcher.focus(); // focus must not fall back to the top of the page
    show(false);
  }
  function toggle() {
    isOpen ? close() : open(true);
  }
  function showMenu(show) {
    menu.hidden = !show;
    menuButton.setAttribute("aria-expanded", String(show));
    if (show) leaveItem.focus();
  }

  launcher.addEventListener("click", toggle);
  closeButton.addEventListener("click", close);
  menuButton.addEventListener("click", () => showMenu(menu.hidden));
  menu.addEventListener("focusout", (event) => {
    if (!menu.contains(event.relatedTarget) && event.relatedTarget !== menuButton) showMenu(false);
  });
  leaveItem.addEventListener("click", () => {
    showMenu(false);
    showForm(true);
  });
  root.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && isOpen && phone.matches) {
      // Tab wraps inside the modal panel.
      const all = Array.from(panel.querySelectorAll("button,input,textarea,[tabindex]"));
      const stops = all.filter((node) => !node.disabled && node.getClientRects().length);
      const edge = stops[event.shiftKey ? 0 : stops.length - 1];
      if (shadow.activeElement === edge || !panel.contains(shadow.activeElement)) {
        event.preventDefault();
        stops[event.shiftKey ? stops.length - 1 : 0].focus();
      }
    } else if (event.key === "Escape" && (isOpen || !menu.hidden)) {
      event.preventDefault();
      if (!menu.hidden) {
        showMenu(false);
        menuButton.focus();
      } else close();
    }
  });
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submitInput();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitInput();
    }
  });
  input.addEventListener("input", () => {
    if (!typingSent) typingSent = sendFrame({ type: "typing", on: true });
    clearTimeout(timers.typing);
    timers.typing = setTimeout(stopTyping, 3000);
  });
  function stopTyping() {
    clearTimeout(timers.typing);
    if (typingSent) sendFrame({ type: "typing", on: false });
    typingSent = false;
  }
  document.addEventListener("visibilitychange", markSeen);

  // ---- sending: every message goes through the persisted outbox

  function readOutbox() {
    try {
      const list = JSON.parse(store.get("outbox") || "[]");
      const valid = (item) => item && item.client_id && typeof item.text === "string";
      return Array.isArray(list) ? list.filter(valid) : [];
    } catch (e) {
      return [];
    }
  }
  function writeOutbox(list) {
    if (list.length) store.set("outbox", JSON.stringify(list));
    else store.del("outbox");
  }
  function unqueue(clientId, failed) {
    writeOutbox(readOutbox().filter((item) => item.client_id !== clientId));
    const node = pendingNodes.get(clientId);
    pendingNodes.delete(clientId);
    if (node && failed) {
      node.className = "msg visitor failed";
      node.querySelector(".meta").lastChild.textContent = strings.notSent;
    } else if (node) node.remove();
  }
  function newId() {
    // Not crypto.randomUUID: it is missing on plain-http pages.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => (b + 256).toString(16).slice(1)).join("");
  }
  function submitInput() {
    const text = input.value.trim();
    if (Array.from(text).length > MAX_TEXT) return showProblem(strings.tooLong);
    const files = kit.files(); // ids of uploaded files (attach.js); null while one uploads
    if (!files || !(text || files.length)) return;
    input.value = "";
    stopTyping();
    send(text, files);
  }
  function send(text, files) {
    const item = { client_id: newId(), text, attachments: files };
    writeOutbox(readOutbox().concat(item));
    addPending(item);
    if (!token) startSession();
    else flush();
  }
  // Each queued message goes out once per socket; the server dedupes by client_id.
  let sentOnSocket = new Set();
  function flush() {
    if (live) {
      for (const item of readOutbox()) {
        if (sentOnSocket.has(item.client_id)) continue;
        sentOnSocket.add(item.client_id);
        const { client_id, text, attachments } = item;
        sendFrame({ type: "message", client_id, text, attachments });
      }
    } else if (poll) part("poll").then((fallback) => fallback.flush());
  }
  // ---- the server: session, socket, HTTP fallback

  async function request(method, path, body, signal) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (body) headers["Content-Type"] = "application/json";
    const response = await fetch(BASE + path, {
      method,
      headers,
      body: body ? JSON.stringify(body) : undefined,
      signal,
      credentials: "omit",
    });
    const json = await response.json().catch(() => ({}));
    if (response.ok) return json;
    const error = new Error((json.error && json.error.message) || "HTTP " + response.status);
    error.status = response.status;
    error.code = json.error && json.error.code;
    throw error;
  }
  function jittered(ms) {
    return ms / 2 + (Math.random() * ms) / 2;
  }
  function backoff(failures) {
    return jittered(Math.min(30000, 500 * 2 ** failures));
  }
  function offlineOr(next) {
    return navigator.onLine === false ? "offline" : next;
  }

  function startSession() {
    if (starting) return starting;
    clearTimeout(timers.session);
    setState(offlineOr("connecting"));
    const body = { site_key: SITE, token: token || null, context: context() };
    starting = request("POST", "/api/v1/widget/session", body)
      .then((answer) => {
        pageSent = body.context.url;
        sessionFailures = 0;
        if (answer.token !== token) {
          reset(); // a new visitor: nothing of the old transcript belongs to them
          token = answer.token;
          store.set("token", token);
        }
        site = answer.site || {};
        setConversation(answer.conversation);
        add(answer.messages);
        if (!ready) {
          ready = { visitor: answer.visitor };
          emit("ready", ready);
        }
        sendIdentity();
        connect();
        if (isOpen) offerPrechat(false);
      })
      .catch((e) => {
        // A refused origin or an unknown site key will not fix itself by retrying.
        if (e.status >= 400 && e.status < 500 && e.status !== 429) {
          setState("unavailable");
          console.warn("Omnichat: " + e.message);
          return;
        }
        setState(offlineOr("connecting"));
        const delay = e.status === 429 ? jittered(60000) : backoff(++sessionFailures);
        timers.session = setTimeout(startSession, delay);
      })
      .finally(() => (starting = null));
    return starting;
  }
  // What the page knows, within the server's bounds.
  function context() {
    const web = (url) => (/^https?:/i.test(url) ? url.slice(0, 2048) : undefined);
    return {
      url: web(location.href),
      title: document.title.slice(0, 300),
      referrer: web(document.referrer),
      language: navigator.language.slice(0, 35),
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone.slice(0, 64),
    };
  }
  // Single-page sites navigate without a load: tell staff about each new page.
  function navigated() {
    const url = context().url;
    if (url && url !== pageSent && sendFrame({ type: "page", url, title: document.title.slice(0, 300) })) {
      pageSent = url;
    }
  }
  for (const method of ["pushState", "replaceState"]) {
    const original = history[method];
    history[method] = function () {
      const result = original.apply(this, arguments);
      setTimeout(navigated, 100); // the page sets its title after the URL
      return result;
    };
  }
  addEventListener("popstate", navigated);
  addEventListener("hashchange", navigated);
  // Asked on open, at most every 30 s; a 404 (older server) counts as online.
  function checkStaff() {
    if (Date.now() - statusAt < 30000) return;
    statusAt = Date.now();
    request("GET", "/api/v1/widget/status?site_key=" + encodeURIComponent(SITE))
      .then((answer) => answer.online !== false, (e) => e.status === 404 || staffOnline)
      .then((online) => {
        staffOnline = online;
        paint();
        if (!online && !conversation && isOpen) showForm(false);
      });
  }

  function renewSession() {
    // Another tab may already hold a fresh token; only forget ours.
    if (store.get("token") === token) store.del("token");
    token = store.get("token");
    stopPolling();
    startSession();
  }
  // Escalation offers the follow-up form; closing, a rating.
  function setConversation(next) {
    const was = conversation && conversation.status;
    conversation = next || null;
    const now = conversation && conversation.status;
    if (now === "escalated" && was !== "escalated") showForm(false, false);
    if (now === "closed" && was && was !== "closed" && !conversation.rating && site.ratings) {
      part("rating").then((rating) => rating.show());
    }
  }

  let ws = null;
  let live = false; // the socket said welcome: frames may flow
  let heard = true;
  let wsFailures = 0;
  function connect() {
    clearTimeout(timers.ws);
    if (!token || ws) return;
    let welcomed = false;
    const socket = (ws = new WebSocket(BASE.replace(/^http/, "ws") + "/ws/visitor"));
    socket.onopen = () => socket.send(JSON.stringify({ type: "hello", token, last_seq: lastSeq }));
    socket.onmessage = (event) => {
      if (ws !== socket) return;
      heard = true;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame.type === "welcome") welcomed = true;
      onFrame(frame);
    };
    socket.onclose = (event) => {
      if (ws === socket) dropped(event.code, welcomed);
    };
  }
  function dropped(code, welcomed) {
    ws = null;
    live = false;
    typingSent = false;
    clearInterval(timers.ping);
    if (code === 4401) return renewSession();
    if (!welcomed) wsFailures++;
    // Proxies that block WebSocket: talk over HTTP, and retry the socket now and then.
    if (wsFailures >= 3) startPolling();
    if (!poll) setState(offlineOr("connecting"));
    const delay = code === 4429 ? jittered(60000) : poll ? jittered(60000) : backoff(wsFailures);
    timers.ws = setTimeout(connect, delay);
  }
  function kill() {
    const socket = ws;
    if (!socket) return;
    socket.onclose = null;
    socket.close();
    dropped(1006, live);
  }
  function sendFrame(frame) {
    if (!live || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }
  function onFrame(frame) {
    if (frame.type === "welcome") {
      live = true;
      wsFailures = 0;
      sentOnSocket = new Set();
      stopPolling();
      setState("online");
      setConversation(frame.conversation);
      add(frame.messages);
      const after = frame.messages.length && frame.messages[frame.messages.length - 1].seq;
      if (frame.more) part("poll").then((fallback) => fallback.more(after));
      flush();
      markSeen();
      navigated();
      // A socket can die silently (sleeping laptop, dropped NAT): no answer in a round, drop it.
      clearInterval(timers.ping);
      timers.ping = setInterval(() => {
        if (!heard) return kill();
        heard = false;
        sendFrame({ type: "ping" });
      }, 25000);
    } else if (frame.type === "ack" || frame.type === "message") {
      add([frame.message]);
    } else if (frame.type === "typing") {
      showTyping(frame.on);
    } else if (frame.type === "conversation") {
      setConversation(frame.conversation);
    } else if (frame.type === "error") {
      // The message waits in the outbox for the form (kit.prechatDone).
      if (frame.code === "prechat_required") return offerPrechat(true);
      showProblem(frame.message || strings.failed);
      if (frame.code === "rate_limited") {
        timers.retry = setTimeout(() => {
          sentOnSocket = new Set();
          flush();
        }, jittered(30000));
      } else if (frame.client_id) unqueue(frame.client_id, true);
    }
  }
  // The HTTP fallback (static/widget/poll.js), while proxies block WebSocket.
  let poll = null;
  function startPolling() {
    if (poll) return;
    const me = (poll = {});
    part("poll").then((fallback) => fallback.start(me));
  }
  function stopPolling() {
    if (poll && poll.control) poll.control.abort();
    poll = null;
  }

  addEventListener("offline", () => {
    kill();
    setState("offline");
  });
  addEventListener("online", () => {
    wsFailures = 0;
    if (token) connect();
    else if (isOpen || readOutbox().length) startSession();
  });

  function markSeen() {
    if (isOpen && document.visibilityState === "visible" && lastSeq > seenSeq) {
      seenSeq = lastSeq;
      store.set("seen", seenSeq);
      paint();
    }
    if (live && seenSeq > seenSent) {
      seenSent = seenSeq;
      sendFrame({ type: "seen", seq: seenSeq });
    }
  }

  // ---- parts loaded on demand (static/widget/NAME.js): what a visitor may never need

  const parts = {};
  const kit = {
    el,
    attrs,
    say,
    button,
    strings,
    sheet,
    request,
    input,
    composer,
    panel,
    BASE,
    files: () => [],
    site: () => site,
    identity: () => identity || {},
    mount: (node) => panel.insertBefore(node, problem),
    focused: (node) => node.contains(shadow.activeElement),
    session: async () => {
      if (!token) await startSession();
      if (!token) throw new Error(strings.failed);
    },
    renew: renewSession,
    add,
    // For the HTTP fallback.
    polling: () => poll,
    lastSeq: () => lastSeq,
    setState,
    setConversation,
    offlineOr,
    backoff,
    readOutbox,
    unqueue,
    showProblem,
    offerPrechat,
    token: () => token,
    SITE,
    thank(text) {
      note.textContent = text;
      note.hidden = !text;
    },
    prechatDone() {
      store.set("prechat", "1");
      sentOnSocket = new Set();
      flush();
    },
  };
  function part(name) {
    return (parts[name] =
      parts[name] ||
      import(BASE + "/widget/" + name + ".js")
        .then((module) => module.default(kit))
        .catch((e) => {
          delete parts[name]; // a failed load is tried again next time
          showProblem(strings.failed);
          throw e;
        }));
  }
  // Not expanded: a one-line step that leaves the conversation its room.
  function showForm(focus, expanded = true) {
    note.hidden = true;
    return part("followup").then((followup) => followup.show(focus, expanded));
  }
  function needsPrechat() {
    const prechat = site.prechat;
    return Boolean(prechat && prechat.enabled && !conversation && !store.get("prechat"));
  }
  function offerPrechat(focus) {
    if (needsPrechat()) part("prechat").then((prechat) => prechat.show(focus));
  }

  // ---- identity, sound, options

  function identify({ identifier, name, email, identifier_hash } = {}) {
    identity = { identifier, name, email, identifier_hash };
    return new Promise((resolve) => {
      identityWaiters.push(resolve);
      if (token) sendIdentity();
    });
  }
  // Resolves null rather than rejecting: a host page that ignores the promise gets no noise.
  function sendIdentity() {
    if (!identity || !token) return;
    const waiters = identityWaiters;
    identityWaiters = [];
    request("POST", "/api/v1/widget/identify", identity)
      .then((answer) => waiters.forEach((resolve) => resolve(answer)))
      .catch((e) => {
        console.warn("Omnichat: identify failed: " + e.message);
        waiters.forEach((resolve) => resolve(null));
      });
  }

  function beep() {
    if (options.sound) part("sound").then((sound) => sound.beep());
  }

  function flag(value) {
    return value === true || (typeof value === "string" && !/^(false|0|no|off)$/i.test(value));
  }
  // A canvas normalises the colour (it is never pasted into CSS as given) to #rrggbb or rgba();
  // the text on it is dark or white, whichever keeps contrast.
  function setColor(color) {
    const context = document.createElement("canvas").getContext("2d");
    context.fillStyle = "#010203";
    context.fillStyle = String(color);
    const value = context.fillStyle;
    if (value === "#010203") return;
    const channel = (i) => parseInt(value.substr(i, 2), 16);
    const [r, g, b] = value[0] === "#" ? [1, 3, 5].map(channel) : value.match(/\d+/g);
    const text = 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#1f2328" : "#fff";
    theme(`:host{--oc-primary:${value}!important;--oc-on-primary:${text}!important}`);
  }
  function setStrings(map) {
    for (const key in map || {}) {
      // Parts loaded later add keys of their own.
      if (typeof map[key] === "string") strings[key] = map[key];
    }
    repaint();
  }
  function configure(o) {
    o = o || {};
    if (o.position) root.classList.toggle("left", o.position === "left");
    if (o.color) setColor(o.color);
    if (typeof o.title === "string") options.title = o.title;
    if (typeof o.greeting === "string") options.greeting = o.greeting;
    if (o.lang) root.lang = o.lang;
    if (o.sound != null) options.sound = flag(o.sound);
    if (options.sound) part("sound");
    if (o.strings) setStrings(o.strings);
    repaint();
  }

  function emit(name, value) {
    for (const fn of listeners[name] || []) {
      try {
        fn(value);
      } catch (e) {
        console.error(e);
      }
    }
  }
  function on(name, fn) {
    (listeners[name] = listeners[name] || []).push(fn);
    if (name === "ready" && ready) fn(ready);
    return () => (listeners[name] = listeners[name].filter((f) => f !== fn));
  }

  // ---- start

  let dataStrings = null;
  try {
    dataStrings = data.strings ? JSON.parse(data.strings) : null;
  } catch (e) {
    console.warn("Omnichat: data-strings is not valid JSON");
  }
  configure({
    position: data.position,
    color: data.color,
    title: data.title,
    greeting: data.greeting,
    lang: data.lang,
    sound: data.sound,
    strings: dataStrings,
  });
  readOutbox().forEach(addPending);

  const queued = window.Omnichat && window.Omnichat.q;
  const api = {
    version: "1",
    open: () => open(true),
    close,
    toggle,
    identify,
    on,
    setStrings,
    configure,
  };
  window.Omnichat = api;
  // Calls made before the script loaded: window.Omnichat = {q: [["on", "ready", fn], ["open"]]}.
  if (Array.isArray(queued)) {
    for (const [name, ...args] of queued) if (typeof api[name] === "function") api[name](...args);
  }

  function mount() {
    (document.body || document.documentElement).appendChild(host);
    // A returning visitor resumes at once (unread replies, live frames); a new one on first open.
    if (token || readOutbox().length) startSession();
    // A reply mail links to the host page with #omnichat-open: the chat opens there.
    if (flag(data.open) || session() || location.hash === "#omnichat-open") open(false);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
