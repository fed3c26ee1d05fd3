// The agent socket: hello with the access token and the last event id seen, events applied in
// order, and reconnection with exponential backoff and jitter.

import { ensureAccess, refresh } from "./api.js";

const PING_MS = 25_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const CLOSE_AUTH = 4401;
const SEEN_KEPT = 2000;

export class AgentSocket {
  /**
   * handlers: onFresh() (connected with no position: reload over HTTP), onEvent(frame),
   * onTyping(frame), onRead(frame) (another tab of ours read a conversation), onSeen(frame)
   * (the visitor read up to a seq), onPresence(frame) (a colleague's presence changed),
   * onStatus("connecting" | "live" | "offline").
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.lastEventId = null;
    // Everything up to `floor` is known (reloaded, or before the position we resumed from);
    // above it, `seen` holds the ids handed on. With several server processes, two events
    // committed a moment apart may arrive in either order: an older id that comes late is
    // still news, only one seen before is a duplicate.
    this.floor = 0;
    this.seen = new Set();
    this.welcomeId = 0;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.wake = () => this.reconnectNow();
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    if (this.ws) this.ws.close(1000, "signed out");
    this.ws = null;
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  reconnectNow() {
    if (this.stopped || document.visibilityState === "hidden" || this.ws) return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  async connect() {
    if (this.stopped || this.ws) return;
    this.handlers.onStatus("connecting");
    let token;
    try {
      token = await ensureAccess();
    } catch (error) {
      if (error.status === 401 || error.status === 403) return; // signed out: the app handles it
      this.retry();
      return;
    }
    if (this.stopped || this.ws) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/agent`);
    this.ws = ws;
    ws.onopen = () => {
      // presence: colleagues' presence frames too (who is online, for the assign menu).
      ws.send(
        JSON.stringify({ type: "hello", token, last_event_id: this.lastEventId, presence: true }),
      );
    };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (close) => this.closed(ws, close.code);
  }

  known(id) {
    this.floor = id;
    this.seen.clear();
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "welcome") {
      this.attempt = 0;
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_MS);
      this.handlers.onStatus("live");
      this.welcomeId = frame.last_event_id ?? 0;
      if (this.lastEventId === null) {
        this.lastEventId = this.welcomeId;
        this.known(this.welcomeId);
        this.handlers.onFresh();
      }
    } else if (frame.type === "event") {
      if (frame.id <= this.floor || this.seen.has(frame.id)) return;
      this.seen.add(frame.id);
      if (this.seen.size > SEEN_KEPT) this.seen.delete(this.seen.values().next().value);
      this.lastEventId = Math.max(this.lastEventId ?? 0, frame.id);
      this.handlers.onEvent(frame);
    } else if (frame.type === "typing") {
      this.handlers.onTyping(frame);
    } else if (frame.type === "read") {
      this.handlers.onRead(frame);
    } else if (frame.type === "resync") {
      // Our position is gone from the log: live events follow from the welcome's id on, and
      // everything before is reloaded over HTTP.
      this.lastEventId = this.welcomeId;
      this.known(this.welcomeId);
      this.handlers.onFresh();
    } else if (frame.type === "seen") {
      this.handlers.onSeen(frame);
    } else if (frame.type === "presence") {
      this.handlers.onPresence(frame);
    }
  }

  async closed(ws, code) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    if (this.stopped) return;
    this.handlers.onStatus("offline");
    if (code === CLOSE_AUTH) {
      try {
        await refresh();
      } catch (error) {
        if (error.status === 401 || error.status === 403) return;
      }
    }
    this.retry();
  }

  retry() {
    clearTimeout(this.retryTimer);
    const attempt = this.attempt++;
    // Exponential backoff with jitter, so a restarted server is not hit by everyone at once.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
