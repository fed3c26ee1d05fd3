// The admin page: sign-in, then the shell, the live socket and the screen the URL names.

import * as api from "./api.js";
import { applySeen, applyTyping } from "./conversation.js";
import { applyEvent, loadActive, unreadConversations, visitorName } from "./conversations.js";
import { h } from "./dom.js";
import { loadFollowupCount } from "./followups.js";
import { linkScreen, takeLink } from "./links.js";
import { loginScreen, passwordForm } from "./login.js";
import { listenToWorker } from "./push.js";
import { applyPresence, reloadStaff } from "./presence.js";
import { beep, desktop, setTitleCount, unlockAudio } from "./notifications.js";
import { applyRead, forgetReads, markOnReturn } from "./reading.js";
import { navigate, startRouter } from "./router.js";
import { hasRole, routeFor } from "./routes.js";
import { installShortcuts } from "./shortcuts.js";
import { createShell } from "./shell.js";
import { AgentSocket } from "./socket.js";
import { getState, resetState, set, subscribe } from "./store.js";
import { applyMessage, flushOutbox, openTranscript, updateMessage } from "./transcript.js";

const BEEP_GAP_MS = 1_500;
const RELOAD_RETRY_MS = 5_000;

const app = document.getElementById("app");
let session = null; // {shell, socket, screen: {mount, instance}, unsubscribe} while signed in
let routerStarted = false;
let lastBeep = 0;
let reloadTimer = 0;
const announced = new Map(); // conversation id -> when we announced it as new

function stopSession() {
  clearTimeout(reloadTimer);
  if (!session) return;
  session.socket.stop();
  session.unsubscribe();
  if (session.screen) session.screen.instance.destroy();
  session.shell.destroy();
  session = null;
  forgetReads();
  announced.clear();
  resetState();
  setTitleCount(0);
}

function showLogin() {
  stopSession();
  app.replaceChildren(loginScreen({ onSignedIn: (user) => (user ? enter(user) : boot()) }));
}

function showPasswordChange() {
  stopSession();
  const form = passwordForm({ forced: true, onDone: () => boot(), onCancel: () => api.logout() });
  app.replaceChildren(h("main", { class: "auth" }, form));
}

function showUnreachable(error) {
  const retry = h(
    "button",
    { type: "button", class: "primary", onclick: () => boot() },
    "Try again",
  );
  app.replaceChildren(
    h(
      "main",
      { class: "auth" },
      h(
        "div",
        { class: "card auth-card" },
        h("h1", {}, "Cannot load Omnichat"),
        h("p", { role: "alert" }, error.message),
        retry,
      ),
    ),
  );
}

async function boot() {
  // A link from a mail (#reset= or #invite=) comes first, whoever is signed in here.
  const link = takeLink();
  if (link) {
    stopSession();
    const onDone = () => showLogin();
    app.replaceChildren(linkScreen(link, { onSignedIn: (user) => enter(user), onDone }));
    return;
  }
  if (!api.hasSession()) {
    showLogin();
    return;
  }
  try {
    const answer = await api.get("/api/v1/auth/me");
    enter(answer.user || answer);
  } catch (error) {
    if (error.code === "password_change_required") showPasswordChange();
    else if (error.status === 401 || !api.hasSession()) showLogin();
    else showUnreachable(error);
  }
}

function enter(user) {
  if (user.must_change_password) showPasswordChange();
  else startSession(user);
}

function startSession(user) {
  stopSession();
  set({ me: user });
  const shell = createShell({ onSignOut: () => api.logout() });
  app.replaceChildren(shell.element);
  const socket = new AgentSocket(handlers());
  session = { shell, socket, screen: null, unsubscribe: () => {} };
  session.unsubscribe = subscribe((state, changed) => {
    if (changed.has("route")) mountScreen(state.route);
    if (changed.has("conversations")) setTitleCount(unreadConversations());
  });
  if (!routerStarted) {
    routerStarted = true;
    startRouter();
  } else {
    navigate(location.pathname, { replace: true });
  }
  socket.start();
}

function mountScreen(route) {
  const screen = routeFor(route.screen);
  if (session.screen && session.screen.mount === screen.mount) return;
  if (session.screen) session.screen.instance.destroy();
  const host = session.shell.screen;
  host.replaceChildren();
  const instance = hasRole(getState().me, screen.role)
    ? screen.mount(host, { socket: session.socket })
    : forbidden(host);
  session.screen = { mount: screen.mount, instance };
}

function forbidden(host) {
  host.replaceChildren(
    h("p", { class: "empty" }, "Your role does not give access to this screen."),
  );
  return { destroy() {} };
}

async function reloadAll() {
  const state = getState();
  const loading = session;
  clearTimeout(reloadTimer);
  await Promise.all([
    loadActive(),
    loadFollowupCount(),
    // Presence frames missed while away are not replayed: ask for the team again.
    reloadStaff(),
    state.openId ? openTranscript(state.openId) : null,
  ]).catch(() => {
    // The inbox says what failed; try again in a while (a reconnect also reloads).
    if (session === loading) reloadTimer = setTimeout(reloadAll, RELOAD_RETRY_MS);
  });
  if (session && session.screen && session.screen.instance.reloadClosed) {
    session.screen.instance.reloadClosed();
  }
}

function handlers() {
  return {
    onFresh: reloadAll,
    onEvent(frame) {
      const result = applyEvent(frame);
      if (result.kind === "message") applyMessage(result.message);
      else if (result.kind === "message-update") updateMessage(result.message);
      if (result.kind === "followup-update") loadFollowupCount().catch(() => {});
      notify(result);
    },
    onTyping: applyTyping,
    onRead: applyRead,
    onSeen: applySeen,
    onPresence: applyPresence,
    onStatus(connection) {
      set({ connection });
      // Back in touch with the server: replies kept in the outbox go out (once: same client id).
      if (connection === "live") flushOutbox();
    },
  };
}

function alertAgent(title, body, tag, path) {
  if (Date.now() - lastBeep > BEEP_GAP_MS) {
    lastBeep = Date.now();
    beep();
  }
  desktop(title, body, tag, () => navigate(path));
}

function notify(result) {
  const state = getState();
  if (result.kind === "conversation") {
    announced.set(result.conversation.id, Date.now());
    const name = visitorName(result.conversation);
    alertAgent(
      "New conversation",
      name,
      `conversation-${result.conversation.id}`,
      `/admin/conversations/${result.conversation.id}`,
    );
  } else if (
    result.kind === "message" &&
    result.conversation &&
    result.message.sender === "visitor"
  ) {
    const id = result.conversation.id;
    const watching = state.openId === id && document.visibilityState === "visible";
    // The first message of a new conversation was announced with it.
    if (watching || Date.now() - (announced.get(id) || 0) < 3_000) return;
    alertAgent(
      `Message from ${visitorName(result.conversation)}`,
      result.message.text.slice(0, 140),
      `conversation-${id}`,
      `/admin/conversations/${id}`,
    );
  } else if (result.kind === "update" && result.escalated) {
    // Loud on purpose: an escalated chat has waited past the site's limit.
    const id = result.conversation.id;
    alertAgent(
      `Escalated: ${visitorName(result.conversation)}`,
      "Waiting too long for an answer",
      `conversation-${id}`,
      `/admin/conversations/${id}`,
    );
  } else if (result.kind === "followup") {
    const followup = result.followup || {};
    alertAgent(
      "New follow-up",
      followup.name || followup.email || followup.phone || "",
      "followups",
      "/admin/followups",
    );
  }
}

api.onAuth((what, detail) => {
  if (what === "signed-out") showLogin();
  else if (what === "password-required") showPasswordChange();
  else if (what === "user" && session) {
    const me = getState().me;
    // A new role may list users (or no longer): ask again for whom to assign to.
    const staff = detail.role === me.role ? getState().staff : null;
    set({ me: { ...me, ...detail }, staff });
  }
});

document.addEventListener("visibilitychange", markOnReturn);
// Audio may only start after a gesture: unlock it on the first one.
document.addEventListener("pointerdown", unlockAudio, { once: true });
document.addEventListener("keydown", unlockAudio, { once: true });
installShortcuts();
// A mailed link opened in a tab already on the admin page changes only the fragment.
window.addEventListener("hashchange", () => {
  if (/^#(reset|invite)=/.test(location.hash)) boot();
});
// A click on a push notification in an open admin tab: go to what it is about.
listenToWorker((path) => session && navigate(path));
boot();
