/* Omnichat widget, loaded on demand: talking over HTTP while a proxy blocks WebSocket, and the
 * rest of a long history after a welcome that said "more". See docs/protocol.md. */
const PAGE = 500;

export default function (kit) {
  const { request } = kit;
  let flushing = false;

  async function after(seq, wait, signal) {
    const path = "/api/v1/widget/messages?after=" + seq + "&wait=" + wait;
    return (await request("GET", path, null, signal)).messages;
  }

  async function more(seq) {
    try {
      for (;;) {
        const list = await after(seq, 0);
        kit.add(list);
        if (list.length < PAGE) return;
        seq = list[list.length - 1].seq;
      }
    } catch (e) {
      kit.showProblem(kit.strings.failed);
    }
  }

  // The outbox over HTTP: the server dedupes by client_id, so a resend never stores twice.
  async function flush() {
    if (flushing || !kit.token()) return;
    flushing = true;
    try {
      for (const item of kit.readOutbox()) {
        try {
          kit.add([(await request("POST", "/api/v1/widget/messages", item)).message]);
          kit.unqueue(item.client_id);
        } catch (e) {
          if (e.code === "prechat_required") return kit.offerPrechat(true);
          if (e.status !== 422) throw e;
          kit.unqueue(item.client_id, true);
          kit.showProblem(e.message);
        }
      }
    } catch (e) {
      if (e.status === 401) kit.renew();
    } finally {
      flushing = false;
    }
  }

  // Status changes come as frames on the socket; over HTTP, ask again when the system speaks.
  function refresh() {
    const token = kit.token();
    request("POST", "/api/v1/widget/session", { site_key: kit.SITE, token })
      .then((answer) => answer.token === token && kit.setConversation(answer.conversation))
      .catch(() => {});
  }

  // Long polls until widget.js stops this one (a new socket said welcome): `me` is its handle.
  async function start(me) {
    let failures = 0;
    let wait = 0;
    while (kit.polling() === me) {
      me.control = new AbortController();
      const timeout = setTimeout(() => me.control.abort(), (wait + 15) * 1000);
      try {
        const list = await after(kit.lastSeq(), wait, me.control.signal);
        if (kit.polling() !== me) break;
        failures = 0;
        wait = 25;
        kit.setState("online");
        kit.add(list);
        if (list.some((m) => m.sender === "system")) refresh();
        flush();
      } catch (e) {
        if (kit.polling() !== me) break;
        if (e.status === 401) return kit.renew();
        kit.setState(kit.offlineOr("connecting"));
        wait = 0;
        await new Promise((resolve) => setTimeout(resolve, kit.backoff(++failures)));
      } finally {
        clearTimeout(timeout);
      }
    }
  }

  return { more, flush, start };
}
