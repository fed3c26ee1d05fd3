"""The chat widget in a real browser (Debian's chromium through playwright) against a real server.

One server and one browser serve the whole module; each test gets a fresh browser context, so a
fresh visitor. Customer pages that embed the widget from another origin are written into a temp
dir and served by a small http.server on another loopback port.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from websockets.sync.client import connect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.timing import UNIT, eventually

TIMEOUT = 10 * UNIT
XSS = "<img src=x onerror=alert(1)>"


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, so the default site's settings are ours to change."""
    data_dir = tmp_path_factory.mktemp("widget") / "data"
    process = ServerProcess(data_dir, server_env(data_dir)).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def site_key(omnichat: ServerProcess) -> str:
    with sqlite3.connect(omnichat.database_path) as connection:
        return str(connection.execute("SELECT site_key FROM sites ORDER BY id").fetchone()[0])


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context: a new visitor with empty storage."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer page</title>{head}</head>
<body><h1>A customer's page</h1><div class="content"><p>Some content.</p></div>
{script}</body></html>
"""
HOSTILE_CSS = """
* { font-family: "Comic Sans MS", cursive !important; line-height: 3 !important;
    letter-spacing: 3px !important; box-sizing: content-box !important; margin: 7px !important; }
html { font-size: 30px !important; color: red !important; }
body { visibility: hidden; cursor: wait; }
div { display: none !important; }
button { color: red !important; background: yellow !important; font-size: 40px !important;
         border: 5px solid green !important; padding: 20px !important; }
textarea, input, p, span { font-size: 40px !important; color: red !important; }
omnichat-widget { display: none !important; opacity: 0.1; transform: scale(0.5); }
:root { --oc-primary: hotpink; --oc-text: red; }
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory, omnichat: ServerProcess, site_key: str
) -> Iterator[str]:
    """Customer pages on another origin (a second loopback port) that embed the widget."""
    root = tmp_path_factory.mktemp("host")
    script = f'<script src="{omnichat.base_url}/widget.js" data-site="{site_key}" async></script>'
    (root / "plain.html").write_text(HOST_PAGE.format(head="", script=script))
    (root / "hostile.css").write_text(HOSTILE_CSS)
    (root / "hostile.html").write_text(
        HOST_PAGE.format(head='<link rel="stylesheet" href="hostile.css">', script=script)
    )
    (root / "empty.html").write_text(HOST_PAGE.format(head="", script=""))
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# ---- helpers ----------------------------------------------------------------------------------


def launcher(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile("chat", re.I))


def message_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def open_chat(page: Page) -> None:
    if not page.get_by_role("log").is_visible():
        launcher(page).click()
    expect(page.get_by_role("log")).to_be_visible()


def send(page: Page, text: str) -> None:
    message_box(page).fill(text)
    message_box(page).press("Enter")


def shown(page: Page, text: str) -> Locator:
    """The transcript's bubbles whose text is exactly `text`."""
    return (
        page.get_by_role("log").locator(".text").filter(has_text=re.compile(f"^{re.escape(text)}$"))
    )


def visitor_token(page: Page, site_key: str) -> str:
    """The token the widget keeps in localStorage, once its session has started."""
    read = f"localStorage.getItem('omnichat:{site_key}:token')"
    return str(
        eventually(lambda: page.evaluate(read), TIMEOUT, "the visitor token in localStorage")
    )


def stored(server: ServerProcess, token: str) -> list[dict[str, Any]]:
    """The visitor's messages as the server holds them."""
    response = server.http.get(
        "/api/v1/widget/messages?after=0",
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return list(response.json()["messages"])


def stored_once(server: ServerProcess, token: str, text: str) -> dict[str, Any]:
    found = eventually(
        lambda: [m for m in stored(server, token) if m["text"] == text], TIMEOUT, f"{text!r} stored"
    )
    assert len(found) == 1, f"{text!r} stored {len(found)} times"
    return dict(found[0])


def staff_headers(server: ServerProcess) -> dict[str, str]:
    response = server.http.post(
        "/api/v1/auth/login",
        json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# ---- tests ------------------------------------------------------------------------------------


def test_widget_script_is_cached_briefly_and_demo_revalidates(
    omnichat: ServerProcess, site_key: str
) -> None:
    """/widget.js is JavaScript cached for five minutes; /demo names the default site's key."""
    script = omnichat.http.get("/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=300"
    demo = omnichat.http.get("/demo")
    assert demo.status_code == 200 and demo.headers["cache-control"] == "no-cache"
    assert f'<script src="/widget.js" data-site="{site_key}" async></script>' in demo.text
    assert "{{site_key}}" not in demo.text


def test_demo_page_embeds_the_widget_and_a_message_is_stored(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """/demo embeds the default site's widget; a visitor's message is stored once and shown sent."""
    page.goto(f"{omnichat.base_url}/demo")
    script = page.locator("script[src='/widget.js']")
    assert script.get_attribute("data-site") == site_key
    open_chat(page)
    expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    send(page, "Hello from the demo page")
    expect(shown(page, "Hello from the demo page")).to_have_count(1)
    message = stored_once(omnichat, visitor_token(page, site_key), "Hello from the demo page")
    assert message["sender"] == "visitor" and message["client_id"]
    # Once acknowledged, the bubble carries the stored time instead of "Sending…".
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    expect(page.get_by_role("log").locator("time").last).to_have_attribute(
        "datetime", message["created_at"]
    )


def test_history_survives_reload_and_reaches_other_tabs(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """After a reload and in a second tab the transcript is back; a new message shows in both."""
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, "Remember me")
    stored_once(omnichat, visitor_token(page, site_key), "Remember me")
    page.reload()
    open_chat(page)
    expect(shown(page, "Remember me")).to_have_count(1)

    other = page.context.new_page()
    other.goto(f"{omnichat.base_url}/demo")
    open_chat(other)
    expect(shown(other, "Remember me")).to_have_count(1)
    expect(other.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    send(other, "Typed in the second tab")
    expect(shown(page, "Typed in the second tab")).to_have_count(1)
    stored_once(omnichat, visitor_token(page, site_key), "Typed in the second tab")


def test_html_in_messages_is_shown_as_text_and_never_runs(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """Markup in messages is text, only http(s) URLs become links, and no script ever runs."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, XSS)
    expect(shown(page, XSS)).to_have_count(1)
    token = visitor_token(page, site_key)
    stored_once(omnichat, token, XSS)
    # The same visitor writing from elsewhere (the HTTP API) reaches the page live.
    hostile = "<script>alert(2)</script> javascript:alert(3) and https://example.com/a?b=1&c=<d>"
    omnichat.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "from-http", "text": hostile},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    expect(shown(page, hostile)).to_have_count(1)
    page.reload()
    open_chat(page)
    expect(shown(page, XSS)).to_have_count(1)
    widget = page.locator("omnichat-widget")
    assert widget.locator("img").count() == 0 and widget.locator("script").count() == 0
    links = page.get_by_role("log").get_by_role("link")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.com/a?b=1&c=")
    expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(links).to_have_attribute("target", "_blank")
    assert dialogs == []


def widget_styles(page: Page) -> dict[str, Any]:
    """Box and computed style of the widget's main parts, read inside its shadow root."""
    return dict(
        page.evaluate(
            """() => {
        const root = document.querySelector("omnichat-widget").shadowRoot;
        const parts = {};
        for (const selector of [".launcher", ".panel", "header", "h2", ".log", ".hint",
                                "textarea", ".composer .primary", ".msg.visitor .text"]) {
            const node = root.querySelector(selector);
            const style = getComputedStyle(node);
            const box = node.getBoundingClientRect();
            parts[selector] = [box.x, box.y, box.width, box.height, style.color,
                style.backgroundColor, style.fontFamily, style.fontSize, style.lineHeight,
                style.letterSpacing, style.display, style.visibility, style.opacity,
                style.borderTopWidth, style.paddingTop];
        }
        return parts;
    }"""
        )
    )


def test_host_page_css_cannot_restyle_the_widget(
    page: Page, browser: Browser, omnichat: ServerProcess, host: str, site_key: str
) -> None:
    """On another origin with hostile CSS, the widget looks exactly as on a plain page and works."""
    looks = []
    for name in ("plain", "hostile"):
        tab = page if name == "plain" else browser.new_page()
        tab.goto(f"{host}/{name}.html")
        open_chat(tab)
        expect(tab.get_by_role("status").filter(has_text="Connected")).to_be_visible()
        send(tab, "Same looks?")
        expect(tab.get_by_role("log").locator(".msg.visitor:not(.pending)")).to_have_count(1)
        stored_once(omnichat, visitor_token(tab, site_key), "Same looks?")
        looks.append(widget_styles(tab))
        if tab is not page:
            tab.context.close()
    plain, hostile = looks
    assert plain == hostile
    assert plain[".launcher"][10] == "grid" and plain[".panel"][11] == "visible"


def test_keyboard_alone_opens_sends_and_closes(
    page: Page, omnichat: ServerProcess, host: str, site_key: str
) -> None:
    """Tab reaches the launcher, Enter opens on the message field, Shift+Enter breaks the line,
    Enter sends, Escape closes and gives focus back to the launcher."""
    page.goto(f"{host}/plain.html")
    expect(launcher(page)).to_be_visible()
    page.keyboard.press("Tab")
    expect(launcher(page)).to_be_focused()
    page.keyboard.press("Enter")
    expect(message_box(page)).to_be_focused()
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    expect(message_box(page)).to_have_value("line one\nline two")
    page.keyboard.press("Enter")
    expect(message_box(page)).to_have_value("")
    stored_once(omnichat, visitor_token(page, site_key), "line one\nline two")
    page.keyboard.press("Escape")
    expect(page.get_by_role("log")).to_be_hidden()
    expect(launcher(page)).to_be_focused()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")


def test_messages_typed_offline_are_sent_once_when_back_online(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """Offline, a message waits in the persisted outbox; back online it is stored exactly once."""
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, "before going offline")
    token = visitor_token(page, site_key)
    stored_once(omnichat, token, "before going offline")

    page.context.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="Offline")).to_be_visible()
    send(page, "typed while offline")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(1)
    outbox = page.evaluate(f"localStorage.getItem('omnichat:{site_key}:outbox')")
    assert "typed while offline" in outbox
    # Still offline a moment later: nothing reached the server.
    page.wait_for_timeout(500)
    assert not [m for m in stored(omnichat, token) if m["text"] == "typed while offline"]

    page.context.set_offline(False)
    stored_once(omnichat, token, "typed while offline")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    expect(shown(page, "typed while offline")).to_have_count(1)
    assert page.evaluate(f"localStorage.getItem('omnichat:{site_key}:outbox')") is None
    page.reload()
    open_chat(page)
    expect(shown(page, "typed while offline")).to_have_count(1)
    stored_once(omnichat, token, "typed while offline")


def test_falls_back_to_http_when_websockets_are_blocked(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """With every WebSocket refused, messages go out by POST and come in by long-poll."""
    page.route_web_socket(re.compile(r"/ws/visitor$"), lambda socket: socket.close())
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, "sent over HTTP")
    # Wait in the browser: the sync API runs the socket route's handler only while it waits.
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    token = visitor_token(page, site_key)
    stored_once(omnichat, token, "sent over HTTP")
    omnichat.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "long-poll", "text": "arrived by long-poll"},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    expect(shown(page, "arrived by long-poll")).to_have_count(1)


def test_welcome_with_more_fetches_the_rest_over_http(
    page: Page, start_server: Callable[..., ServerProcess]
) -> None:
    """Back after missing more than one welcome holds (500), the widget fetches the rest, once."""
    server = start_server(
        OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR="0",
        OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_IP="0",
    )
    with sqlite3.connect(server.database_path) as connection:
        key = connection.execute("SELECT site_key FROM sites ORDER BY id").fetchone()[0]
    sockets: list[Any] = []
    blocked = False

    def route(socket: Any) -> None:
        if blocked:
            socket.close()
            return
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/visitor$"), route)
    page.goto(f"{server.base_url}/demo")
    open_chat(page)
    send(page, "first")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    token = visitor_token(page, key)
    # Cut the socket; while the test posts, new sockets wait unanswered (nothing pumps the route).
    blocked = True
    sockets[-1].close()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        for number in range(520):
            client.post(
                f"{server.base_url}/api/v1/widget/messages",
                json={"client_id": f"bulk-{number}", "text": f"bulk {number}"},
            ).raise_for_status()
    blocked = False
    expect(shown(page, "bulk 519")).to_have_count(1)
    with sqlite3.connect(server.database_path) as connection:
        total = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert total > 521  # the greeting and the first message too
    expect(page.get_by_role("log").locator(".msg")).to_have_count(total)
    for number in (0, 250, 499, 500, 519):
        expect(shown(page, f"bulk {number}")).to_have_count(1)


def test_works_when_storage_is_blocked(browser: Browser, omnichat: ServerProcess) -> None:
    """With localStorage and sessionStorage throwing, the widget still chats from memory."""
    context = browser.new_context()
    context.add_init_script(
        """for (const name of ["localStorage", "sessionStorage"]) {
            const refuse = () => { throw new DOMException("blocked", "SecurityError"); };
            Object.defineProperty(window, name, {get: refuse});
        }"""
    )
    page = context.new_page()
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, "no storage here")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    expect(shown(page, "no storage here")).to_have_count(1)
    with sqlite3.connect(omnichat.database_path) as connection:
        count = connection.execute(
            "SELECT count(*) FROM messages WHERE text = 'no storage here'"
        ).fetchone()[0]
    assert count == 1
    context.close()


def test_phone_sized_screen_gets_a_full_screen_panel(
    browser: Browser, omnichat: ServerProcess
) -> None:
    """On a 360 px wide screen the open panel fills the viewport and hides the launcher."""
    context = browser.new_context(viewport={"width": 360, "height": 640}, has_touch=True)
    page = context.new_page()
    page.goto(f"{omnichat.base_url}/demo")
    launcher(page).click()
    panel = page.get_by_role("dialog")
    expect(panel).to_be_visible()
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 360, "height": 640}
    expect(launcher(page)).to_be_hidden()
    expect(message_box(page)).to_be_in_viewport()
    page.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()
    expect(launcher(page)).to_be_visible()
    context.close()


def test_injected_after_load_with_options_adds_only_window_omnichat(
    page: Page, omnichat: ServerProcess, host: str, site_key: str
) -> None:
    """Injected after load with data- options and calls queued before it, the widget honours
    them, fires its events and adds no global name but window.Omnichat."""
    page.goto(f"{host}/empty.html")
    added = page.evaluate(
        """([src, key]) => new Promise((resolve) => {
        window.seen = [];
        const before = new Set(Object.keys(window));
        const record = (name) => ["on", name, (value) => seen.push(
            name + ":" + (typeof value == "string" ? value : ""))];
        window.Omnichat = {q: ["open", "close", "ready", "connection"].map(record)};
        const script = document.createElement("script");
        script.src = src;
        script.async = true;
        Object.assign(script.dataset, {
            site: key, position: "left", color: "#ffd54f", title: "Acme help", open: "",
            strings: JSON.stringify({send: "Envoyer", openChat: "Ouvrir le chat"}),
        });
        script.onload = () => resolve(Object.keys(window).filter((name) => !before.has(name)));
        document.body.append(script);
    })""",
        [f"{omnichat.base_url}/widget.js", site_key],
    )
    assert added == ["Omnichat"]
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("heading", name="Acme help")).to_be_visible()
    # Nobody is online, so the follow-up form's button is there too: both say it in French.
    expect(page.get_by_role("button", name="Envoyer").first).to_be_visible()
    box = launcher(page).bounding_box()
    assert box is not None and box["x"] < 100
    # A light primary colour gets dark text on it, for contrast.
    header = page.locator("omnichat-widget header")
    expect(header).to_have_css("background-color", "rgb(255, 213, 79)")
    expect(header).to_have_css("color", "rgb(31, 35, 40)")
    expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()

    page.evaluate("Omnichat.close()")
    expect(launcher(page)).to_have_accessible_name("Ouvrir le chat")
    page.evaluate("Omnichat.toggle()")
    expect(launcher(page)).to_have_accessible_name("Close chat")
    assert page.evaluate("seen") == [
        "open:",
        "connection:connecting",
        "ready:",
        "connection:online",
        "close:",
        "open:",
    ]


def test_identify_before_the_session_is_sent_once_it_exists(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """identify() called before any session is queued, then recorded for this visitor."""
    page.goto(f"{omnichat.base_url}/demo")
    page.wait_for_function("window.Omnichat")
    page.evaluate(
        "() => { window.identified = Omnichat.identify({name: 'Ada', email: 'ada@x.org'}); }"
    )
    assert page.evaluate(f"localStorage.getItem('omnichat:{site_key}:token')") is None
    open_chat(page)
    answer = page.evaluate("window.identified")
    assert answer["visitor"]["name"] == "Ada"
    token_hash = hashlib.sha256(visitor_token(page, site_key).encode()).hexdigest()
    with sqlite3.connect(omnichat.database_path) as connection:
        row = connection.execute(
            "SELECT name, email, verified FROM visitors WHERE token_hash = ?", (token_hash,)
        ).fetchone()
    assert row == ("Ada", "ada@x.org", 0)


def test_leave_a_message_form_checks_contact_details(page: Page, omnichat: ServerProcess) -> None:
    """The menu's "Leave a message" opens a form that asks for an email or a phone number."""
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    page.get_by_role("button", name="More options").click()
    page.get_by_role("menuitem", name="Leave a message").click()
    form_email = page.get_by_role("textbox", name="Email")
    expect(page.get_by_role("textbox", name="Name")).to_be_focused()
    page.locator("omnichat-widget .followup").get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert").filter(has_text="email address or a phone")).to_be_visible()
    expect(form_email).to_have_attribute("aria-invalid", "true")
    expect(form_email).to_be_focused()
    form_email.fill("not an address")
    page.locator("omnichat-widget .followup").get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert").filter(has_text="check the email")).to_be_visible()
    page.get_by_role("button", name="Not now").click()
    expect(form_email).to_be_hidden()
    expect(message_box(page)).to_be_focused()


def test_follow_up_form_is_stored_and_server_errors_show_by_the_field(
    page: Page, omnichat: ServerProcess
) -> None:
    """The server's 422 shows next to the form on its field; a good form is stored and thanked."""
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, "I need a call back")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    page.get_by_role("button", name="More options").click()
    page.get_by_role("menuitem", name="Leave a message").click()
    form = page.locator("omnichat-widget .followup")
    page.get_by_role("textbox", name="Name").fill("Grace")
    phone = page.get_by_role("textbox", name="Phone")
    phone.fill("call me maybe")
    page.get_by_role("textbox", name="How can we help?").fill("Call me about ferns")
    form.get_by_role("button", name="Send").click()
    expect(form.get_by_role("alert")).to_contain_text("phone")
    expect(phone).to_have_attribute("aria-invalid", "true")
    phone.fill("+1 202 555 0100")
    form.get_by_role("button", name="Send").click()
    expect(form).to_be_hidden()
    # The conversation existed, so the server's thanks arrives in it, once.
    expect(page.get_by_role("log").get_by_text("Thank you for your message.")).to_have_count(1)
    with sqlite3.connect(omnichat.database_path) as connection:
        rows = connection.execute(
            "SELECT name, message FROM followups WHERE message = 'Call me about ferns'"
        ).fetchall()
    assert rows == [("Grace", "Call me about ferns")]


def test_staff_reply_appears_live_with_an_unread_badge(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """A staff reply reaches the closed widget as an unread count, then shows with its author."""
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, "Is anyone there?")
    message = stored_once(omnichat, visitor_token(page, site_key), "Is anyone there?")
    launcher(page).click()
    expect(page.get_by_role("log")).to_be_hidden()
    reply = f"Yes! See https://example.com/care {XSS}"
    omnichat.http.post(
        f"/api/v1/conversations/{message['conversation_id']}/messages",
        json={"client_id": "staff-reply-1", "text": reply, "private": False},
        headers=staff_headers(omnichat),
    ).raise_for_status()
    expect(launcher(page)).to_have_accessible_name(re.compile("Open chat, [1-9]\\d* unread"))
    launcher(page).click()
    expect(shown(page, reply)).to_have_count(1)
    expect(launcher(page)).to_have_accessible_name("Close chat")
    link = page.get_by_role("log").get_by_role("link", name="https://example.com/care")
    expect(link).to_have_attribute("href", "https://example.com/care")
    assert page.locator("omnichat-widget img").count() == 0


def test_staff_typing_shows_and_clears(page: Page, omnichat: ServerProcess, site_key: str) -> None:
    """Staff typing in the conversation shows "Staff is typing..." in the widget, until it stops."""
    page.goto(f"{omnichat.base_url}/demo")
    open_chat(page)
    send(page, "Hello, typing test")
    message = stored_once(omnichat, visitor_token(page, site_key), "Hello, typing test")
    token = staff_headers(omnichat)["Authorization"].removeprefix("Bearer ")
    with connect(f"{omnichat.ws_url}/ws/agent") as agent:
        agent.send(orjson.dumps({"type": "hello", "token": token, "last_event_id": None}).decode())
        assert orjson.loads(agent.recv(timeout=TIMEOUT))["type"] == "welcome"
        typing = {"type": "typing", "conversation_id": message["conversation_id"], "on": True}
        agent.send(orjson.dumps(typing).decode())
        expect(page.get_by_text("Staff is typing...")).to_be_visible()
        agent.send(orjson.dumps({**typing, "on": False}).decode())
        expect(page.get_by_text("Staff is typing...")).to_be_hidden()


def test_escalation_brings_up_the_follow_up_form(
    page: Page, omnichat: ServerProcess, site_key: str
) -> None:
    """When nobody answers in time the conversation escalates and the widget offers the form."""
    headers = staff_headers(omnichat)
    sites = omnichat.http.get("/api/v1/sites", headers=headers).json()["sites"]
    site = next(s for s in sites if s["site_key"] == site_key)
    patch = {"patience_seconds": 0, "escalate_seconds": 1}
    omnichat.http.patch(
        f"/api/v1/sites/{site['id']}", json=patch, headers=headers
    ).raise_for_status()
    try:
        page.goto(f"{omnichat.base_url}/demo")
        open_chat(page)
        send(page, "Hello? Anybody?")
        expect(page.get_by_role("textbox", name="Email")).to_be_visible()
        expect(page.get_by_role("textbox", name="Phone")).to_be_visible()
    finally:
        restore = {key: site[key] for key in patch}
        omnichat.http.patch(
            f"/api/v1/sites/{site['id']}", json=restore, headers=headers
        ).raise_for_status()
