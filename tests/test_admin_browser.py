"""The admin page in a real browser (Debian's chromium through playwright) against a real server.

One server and one browser serve the module; each test opens fresh browser contexts, so fresh
storage. Visitors are the /demo page's widget in a context of their own, or the widget's HTTP
API driven from the test when only the agent's view matters.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Request, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ROOT, ServerProcess, server_env
from tests.staff import create_user_cli
from tests.timing import UNIT
from tests.visitors import bearer, new_session

TIMEOUT = 10 * UNIT
XSS_CORPUS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "<iframe src=javascript:alert(4)></iframe>",
    "<a href=javascript:alert(5)>click</a>",
    "&lt;b&gt;entity&lt;/b&gt; {{constructor.constructor('alert(6)')()}}",
]


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own: its inbox holds only what these tests put there."""
    data_dir = tmp_path_factory.mktemp("admin") / "data"
    # Every test signs in from 127.0.0.1; the login throttle is tested elsewhere.
    env = server_env(data_dir, OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP="0")
    process = ServerProcess(data_dir, env).start()
    # No patience or escalation messages mid-test: they would reorder the inbox under the keys.
    headers = bearer(owner_token(process))
    site = process.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    process.http.patch(
        f"/api/v1/sites/{site['id']}",
        json={"patience_seconds": 86400, "escalate_seconds": 86400},
        headers=headers,
    ).raise_for_status()
    yield process
    process.stop()


class Pages:
    """The browser contexts a test opens (at 1280x720), and any dialog a page opened."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.dialogs: list[str] = []

    def new(self) -> Page:
        context = self.browser.new_context(viewport={"width": 1280, "height": 720})
        self.contexts.append(context)
        page = context.new_page()
        page.on("dialog", self.dialog)
        return page

    def dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def pages(browser: Browser) -> Iterator[Pages]:
    """Fresh pages for the test; no normal flow may open an alert/confirm/prompt dialog."""
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        context.close()
    assert opened.dialogs == [], f"dialogs opened: {opened.dialogs}"


# ---- helpers ----------------------------------------------------------------------------------


def sign_in(
    page: Page, server: ServerProcess, email: str, password: str, path: str = "/admin"
) -> None:
    page.goto(server.base_url + path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_inbox(page: Page) -> None:
    expect(page.get_by_role("navigation", name="Inbox views")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def owner_token(server: ServerProcess) -> str:
    response = server.http.post(
        "/api/v1/auth/login",
        json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def visitor(server: ServerProcess, name: str | None = None, **identity: str) -> str:
    """A new visitor of the default site (named when `name`); returns its token."""
    token = str(new_session(server)["token"])
    if name is not None or identity:
        response = server.http.post(
            "/api/v1/widget/identify",
            json={"name": name, **identity},
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text
    return token


def visitor_says(server: ServerProcess, token: str, text: str) -> int:
    """Send `text` as the visitor; returns the conversation id."""
    response = server.http.post(
        "/api/v1/widget/messages",
        json={"client_id": uuid.uuid4().hex, "text": text},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["message"]["conversation_id"])


def row(page: Page, text: str) -> Any:
    return page.locator(".conversation-list .row").filter(has_text=text)


def selected_row(page: Page) -> Any:
    return page.locator(".conversation-list .row[aria-current='true']")


# ---- tests ------------------------------------------------------------------------------------


def test_sign_in_survives_a_reload_and_sign_out_forgets_the_session(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """A wrong password is refused inline; a session survives a reload; signing out ends it."""
    page = pages.new()
    sign_in(page, omnichat, OWNER_EMAIL, "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Email or password is wrong.")
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect_inbox(page)
    page.reload()
    expect_inbox(page)
    refresh_token = page.evaluate("localStorage.getItem('omnichat.refresh_token')")
    assert refresh_token
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('omnichat.refresh_token')") is None
    # The session ended on the server too, not just in this browser.
    refused = omnichat.http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert refused.status_code == 401
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_sign_in_asks_for_the_tenant_only_when_the_password_opens_several(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """One email in two tenants with one password: the sign-in form asks for the tenant, then
    signs in to the one named."""
    email, tenant = f"twice-{uuid.uuid4().hex[:8]}@example.com", f"t{uuid.uuid4().hex[:8]}"
    for slug in ("default", tenant):
        create_user_cli(omnichat, email, "agent", slug, "same-password-in-both")
    page = pages.new()
    sign_in(page, omnichat, email, "same-password-in-both")
    expect(page.get_by_role("alert")).to_contain_text("several tenants")
    page.get_by_label("Tenant").fill(tenant)
    page.get_by_role("button", name="Sign in").click()
    expect_inbox(page)


def test_a_generated_password_must_be_changed_before_anything_else(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """An account with a generated password (`create-user`) must change it before the inbox."""
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    created = subprocess.run(
        [sys.executable, "run.py", "create-user", email, "--role", "agent"],
        cwd=ROOT,
        env={**os.environ, **omnichat.env},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"password: (\S+)", created.stdout)
    assert found, created.stdout
    page = pages.new()
    sign_in(page, omnichat, email, found.group(1))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page.get_by_role("navigation", name="Inbox views")).to_have_count(0)
    page.get_by_label("Current (generated) password").fill(found.group(1))
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect_inbox(page)
    # An agent sees the inbox but none of the admin screens.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Inbox", "Canned replies"]
    )
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, omnichat, email, "a brand new passphrase")
    expect_inbox(page)


def test_a_role_change_reaches_an_open_page_without_signing_out(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """After an admin changes an agent's role, the agent's page refreshes its token, reconnects and
    shows the new menu, still live."""
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    created = subprocess.run(
        [sys.executable, "run.py", "create-user", email, "--role", "agent", "--password-stdin"],
        cwd=ROOT,
        env={**os.environ, **omnichat.env},
        input="agent passphrase one\n",
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    page = pages.new()
    sign_in(page, omnichat, email, "agent passphrase one")
    expect_inbox(page)
    menu = page.get_by_role("navigation", name="Main").get_by_role("link")
    expect(menu).to_have_text(["Inbox", "Canned replies"])

    headers = bearer(owner_token(omnichat))
    users = omnichat.http.get("/api/v1/users", headers=headers).json()["users"]
    agent_id = next(user["id"] for user in users if user["email"] == email)
    omnichat.http.patch(
        f"/api/v1/users/{agent_id}", json={"role": "admin"}, headers=headers
    ).raise_for_status()

    # The socket closed with 4401 (role changed); the page refreshed and came back as an admin.
    expect(menu).to_have_text(
        [
            "Inbox",
            "Canned replies",
            "Users",
            "Sites",
            "API tokens",
            "Reports",
            "Audit log",
            "Export",
            "Webhooks",
        ]
    )
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    word = "after" + uuid.uuid4().hex[:8]
    visitor_says(omnichat, visitor(omnichat), f"{word} the change")
    expect(row(page, word)).to_be_visible()
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("cell", name=email)).to_be_visible()


def test_agent_and_visitor_talk_live(pages: Pages, omnichat: ServerProcess) -> None:
    """A new conversation appears without a reload; claim, typing both ways, reply and close reach
    the visitor's widget."""
    agent = pages.new()
    sign_in(agent, omnichat, OWNER_EMAIL, OWNER_PASSWORD)
    expect_inbox(agent)
    agent.evaluate("window.sameDocument = true")

    guest = pages.new()
    guest.goto(f"{omnichat.base_url}/demo")
    guest.get_by_role("button", name=re.compile("chat", re.I)).click()
    word = "hello" + uuid.uuid4().hex[:8]
    guest.get_by_role("textbox", name="Message").fill(f"{word}, is anyone there?")
    guest.get_by_role("textbox", name="Message").press("Enter")

    expect(row(agent, word)).to_be_visible()
    assert agent.evaluate("window.sameDocument") is True, "the inbox reloaded"
    expect(row(agent, word).locator(".badge.unread")).to_have_text("1")
    expect(agent).to_have_title(re.compile(r"^\(\d+\) Omnichat$"))
    row(agent, word).click()
    expect(agent).to_have_url(re.compile(r"/admin/conversations/\d+$"))
    transcript = agent.get_by_role("log", name="Transcript")
    expect(transcript).to_contain_text(f"{word}, is anyone there?")
    expect(row(agent, word).locator(".badge.unread")).to_have_count(0)

    agent.get_by_role("button", name="Claim").click()
    expect(agent.get_by_role("button", name="Release")).to_be_visible()
    expect(row(agent, word)).to_contain_text("Owner")

    reply = agent.get_by_role("textbox", name="Reply")
    reply.press_sequentially("Yes, ")
    widget_log = guest.get_by_role("log")
    expect(guest.get_by_text("Staff is typing...")).to_be_visible()
    reply.press("Shift+Enter")
    reply.press_sequentially("how can I help?")
    reply.press("Enter")
    expect(widget_log).to_contain_text("Yes,")
    expect(widget_log).to_contain_text("how can I help?")
    expect(reply).to_have_value("")
    expect(transcript.locator(".message.from-agent .message-text")).to_have_text(
        "Yes, \nhow can I help?"
    )

    guest.get_by_role("textbox", name="Message").press_sequentially("I need")
    expect(agent.get_by_text(re.compile(r"is typing…$"))).to_be_visible()

    # A private note stays with the agents.
    agent.get_by_label("Private note (agents only)").check()
    reply.fill("note: VIP customer")
    reply.press("Enter")
    expect(transcript.locator(".message.private")).to_contain_text("note: VIP customer")

    agent.get_by_role("button", name="Close", exact=True).click()
    agent.get_by_role("button", name="Close conversation").click()
    expect(agent.get_by_role("button", name="Reopen")).to_be_visible()
    expect(widget_log).to_contain_text("This conversation was closed")
    expect(widget_log).not_to_contain_text("VIP customer")
    # Closed takes notes only, until reopened.
    agent.get_by_label("Private note (agents only)").uncheck()
    expect(agent.get_by_role("button", name="Send")).to_be_disabled()
    agent.get_by_role("button", name="Reopen").click()
    expect(agent.get_by_role("button", name="Send")).to_be_enabled()
    expect(widget_log).to_contain_text("reopened")


def test_hostile_names_and_messages_render_as_text(pages: Pages, omnichat: ServerProcess) -> None:
    """Markup in visitor names and messages shows as text: no element injected, no script run."""
    ids, tokens = [], []
    for index, payload in enumerate(XSS_CORPUS):
        tokens.append(visitor(omnichat, name=f"{payload} #{index}"))
        ids.append(visitor_says(omnichat, tokens[-1], f"{payload} said #{index}"))
    page = pages.new()
    sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD)
    expect_inbox(page)
    for index, payload in enumerate(XSS_CORPUS):
        expect(row(page, f"{payload} #{index}")).to_contain_text(f"{payload} said #{index}")
    for index, payload in enumerate(XSS_CORPUS):
        row(page, f"{payload} #{index}").click()
        expect(page).to_have_url(re.compile(f"/admin/conversations/{ids[index]}$"))
        expect(page.locator("#pane-title")).to_have_text(f"{payload} #{index}")
        expect(page.get_by_role("log", name="Transcript")).to_contain_text(
            f"{payload} said #{index}"
        )
        expect(page.get_by_role("complementary", name="Visitor details")).to_contain_text(payload)
    # A message arriving live (over the socket) takes the same care.
    visitor_says(omnichat, tokens[-1], "<img src=x onerror=alert(7)> live")
    expect(page.get_by_role("log", name="Transcript")).to_contain_text(
        "<img src=x onerror=alert(7)> live"
    )
    # Nothing from the corpus became an element (the page itself has no images or frames).
    assert page.locator("img, svg, iframe, script:not([src])").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert pages.dialogs == []


def test_deep_links_survive_a_reload_and_keys_move_between_conversations(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """/admin/conversations/ID opens that conversation on load; j/k move, r focuses the reply."""
    secret = "s" * 32
    response = omnichat.http.get("/api/v1/sites", headers=bearer(owner_token(omnichat)))
    site_id = response.json()["sites"][0]["id"]
    omnichat.http.patch(
        f"/api/v1/sites/{site_id}",
        json={"identity_secret": secret},
        headers=bearer(owner_token(omnichat)),
    ).raise_for_status()
    word = "deep" + uuid.uuid4().hex[:8]
    digest = hmac.new(secret.encode(), b"customer-42", hashlib.sha256).hexdigest()
    verified = visitor(omnichat, f"Vera {word}", identifier="customer-42", identifier_hash=digest)
    first = visitor_says(omnichat, verified, f"first {word}")
    second = visitor_says(omnichat, visitor(omnichat, f"Sam {word}"), f"second {word}")

    page = pages.new()
    sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD, path=f"/admin/conversations/{first}")
    title = page.locator("#pane-title")
    details = page.get_by_role("complementary", name="Visitor details")
    expect(title).to_have_text(f"Vera {word}")
    expect(details.get_by_text("Verified", exact=True)).to_be_visible()
    page.reload()
    expect(title).to_have_text(f"Vera {word}")
    expect(page).to_have_url(re.compile(f"/admin/conversations/{first}$"))

    # Waiting lists who waited longest first: j goes down to Sam's, Alt+ArrowUp comes back up.
    expect(row(page, f"second {word}")).to_be_visible()  # the keys act on the loaded list
    expect(selected_row(page)).to_contain_text(f"first {word}")
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(f"/admin/conversations/{second}$"))
    expect(title).to_have_text(f"Sam {word}")
    expect(selected_row(page)).to_contain_text(f"second {word}")
    expect(details.get_by_text("Verified", exact=True)).to_have_count(0)
    page.keyboard.press("Alt+ArrowUp")
    expect(page).to_have_url(re.compile(f"/admin/conversations/{first}$"))
    page.keyboard.press("r")
    reply = page.get_by_role("textbox", name="Reply")
    expect(reply).to_be_focused()
    page.keyboard.type("jk")  # typed into the reply, not taken as shortcuts
    expect(reply).to_have_value("jk")
    expect(page).to_have_url(re.compile(f"/admin/conversations/{first}$"))
    page.go_back()
    expect(page).to_have_url(re.compile(f"/admin/conversations/{second}$"))
    expect(title).to_have_text(f"Sam {word}")


def test_an_event_redraws_only_the_row_it_changes(pages: Pages, omnichat: ServerProcess) -> None:
    """A visitor's message updates and moves its own row only (in Open, newest change first):
    every row stays the same element (the inbox is not rebuilt per event), and a focused row
    that moves keeps the focus."""
    word = "keyed" + uuid.uuid4().hex[:8]
    busy_visitor = visitor(omnichat, f"Bea {word}")
    visitor_says(omnichat, busy_visitor, f"busy {word}")
    visitor_says(omnichat, visitor(omnichat, f"Quinn {word}"), f"quiet {word}")
    page = pages.new()
    sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD, path="/admin/inbox/open")
    expect_inbox(page)
    busy, quiet = row(page, f"Bea {word}"), row(page, f"Quinn {word}")
    expect(busy).to_contain_text(f"busy {word}")
    expect(quiet).to_contain_text(f"quiet {word}")
    rows = page.evaluate_handle("() => [...document.querySelectorAll('.conversation-list .row')]")
    busy_node, quiet_node = busy.element_handle(), quiet.element_handle()
    assert page.evaluate(
        "([busy, quiet]) => quiet.compareDocumentPosition(busy) & Node.DOCUMENT_POSITION_FOLLOWING",
        [busy_node, quiet_node],
    ), "the older conversation is listed below the newer one"
    busy.focus()

    visitor_says(omnichat, busy_visitor, f"again {word}")

    expect(busy).to_contain_text(f"again {word}")
    expect(busy.locator(".badge.unread")).to_have_text("2")
    assert page.evaluate("rows => rows.every((row) => row.isConnected)", rows), "rows were rebuilt"
    assert page.evaluate(
        "([busy, quiet]) => busy.compareDocumentPosition(quiet) & Node.DOCUMENT_POSITION_FOLLOWING",
        [busy_node, quiet_node],
    ), "the conversation with the new message moved to the top"
    assert busy_node.evaluate("(node, now) => node === now", busy.element_handle())
    assert quiet_node.evaluate("(node, now) => node === now", quiet.element_handle())
    expect(busy).to_be_focused()


def test_a_burst_of_messages_in_an_open_conversation_is_marked_read_once(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """The open conversation is marked read when shown and once after a burst of visitor
    messages settles, not once per message; the server's marker reaches the last of them."""
    word = "reads" + uuid.uuid4().hex[:8]
    token = visitor(omnichat, f"Rita {word}")
    conversation_id = visitor_says(omnichat, token, f"first {word}")
    read_path = f"/api/v1/conversations/{conversation_id}/read"
    page = pages.new()
    marks: list[Request] = []

    def is_mark(request: Request) -> bool:
        return request.method == "POST" and request.url.endswith(read_path)

    page.on("request", lambda request: marks.append(request) if is_mark(request) else None)
    # Its answer is in before the burst, so the one awaited below is the burst's own.
    with page.expect_response(lambda response: is_mark(response.request), timeout=TIMEOUT * 1000):
        sign_in(
            page,
            omnichat,
            OWNER_EMAIL,
            OWNER_PASSWORD,
            path=f"/admin/conversations/{conversation_id}",
        )
    transcript = page.get_by_role("log", name="Transcript")
    expect(transcript).to_contain_text(f"first {word}")

    with page.expect_response(lambda response: is_mark(response.request), timeout=TIMEOUT * 1000):
        for line in range(5):
            visitor_says(omnichat, token, f"line {line} {word}")
    expect(transcript.locator(".message.from-visitor")).to_have_count(6)
    expect(row(page, f"Rita {word}").locator(".badge.unread")).to_have_count(0)
    page.evaluate("() => 0")  # the requests the page started before this have been reported
    assert len(marks) <= 2, f"{len(marks)} read marks for 5 messages"
    answer = httpx.get(
        f"{omnichat.base_url}/api/v1/conversations/{conversation_id}",
        headers=bearer(owner_token(omnichat)),
    )
    assert answer.json()["conversation"]["unread"] == 0


def test_followups_users_sites_and_export_screens(pages: Pages, omnichat: ServerProcess) -> None:
    """A new follow-up raises the badge live and can be marked viewed and archived; an admin
    invites a user (one-time password shown once), copies a site's snippet, downloads the CSV."""
    page = pages.new()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD, path="/admin/followups")
    expect(page.get_by_role("heading", name="Follow-ups")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    followups_link = page.get_by_role("link", name=re.compile("^Follow-ups"))
    expect(followups_link).to_have_text("Follow-ups")

    token = visitor(omnichat)
    conversation_id = visitor_says(omnichat, token, "nobody answered me")
    name = "Fay " + uuid.uuid4().hex[:6]
    omnichat.http.post(
        "/api/v1/widget/followup",
        json={"name": name, "email": "fay@example.com", "phone": None, "message": "Call me <b>"},
        headers=bearer(token),
    ).raise_for_status()
    expect(followups_link).to_have_text("Follow-ups1")
    card = page.get_by_role("listitem").filter(has_text=name)
    expect(card).to_contain_text("fay@example.com")
    expect(card).to_contain_text("Call me <b>")
    card.get_by_role("button", name="Mark viewed").click()
    expect(card).to_have_count(0)
    expect(followups_link).to_have_text("Follow-ups")
    page.get_by_role("button", name="Viewed").click()
    page.get_by_role("listitem").filter(has_text=name).get_by_role("button", name="Archive").click()
    expect(page.get_by_role("listitem").filter(has_text=name)).to_have_count(0)
    page.get_by_role("button", name="Archived").click()
    expect(page.get_by_role("listitem").filter(has_text=name)).to_be_visible()

    page.get_by_role("link", name="Users").click()
    email = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill("Invited Ivy")
    page.get_by_role("button", name="Create user").click()
    password = page.get_by_role("textbox", name="One-time password")
    expect(password).to_have_value(re.compile(r"\S{8,}"))
    expect(page.get_by_role("row").filter(has_text=email)).to_contain_text("Must change password")

    page.get_by_role("link", name="Sites").click()
    snippet = page.get_by_role("textbox", name=re.compile("^Widget snippet"))
    expect(snippet).to_have_value(re.compile(r'^<script src="http://127\.0\.0\.1:\d+/widget\.js"'))
    page.get_by_role("button", name="Copy").first.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == snippet.input_value()

    page.get_by_role("link", name="Export").click()
    page.get_by_label("Conversations updated in the last N days").fill("7")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert re.fullmatch(r"conversations-\d{4}-\d\d-\d\d-7d\.csv", download.value.suggested_filename)
    with open(download.value.path(), encoding="utf-8-sig") as csv:
        lines = csv.read().splitlines()
    assert lines[0].startswith("id,created_at,status,channel")
    assert any(line.startswith(f"{conversation_id},") for line in lines[1:])


def test_email_links_never_carry_smuggled_mailto_parameters(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """A legal address with '?' in its local part links with it percent-encoded, and one stored
    with '?bcc=' glued on (accepted before addresses were checked) shows as text, not a link."""
    legal = f"x?bcc=a%40evil.test@shop-{uuid.uuid4().hex[:6]}.example"
    legacy = "help@shop.example?bcc=attacker%40evil.test&body=x"
    token = visitor(omnichat, "Mallory", email=legal)
    conversation_id = visitor_says(omnichat, token, "write to me")
    names = [f"Legal {uuid.uuid4().hex[:6]}", f"Legacy {uuid.uuid4().hex[:6]}"]
    made = []
    for name in names:
        response = httpx.post(
            f"{omnichat.base_url}/api/v1/widget/followup",
            json={"name": name, "email": legal, "message": "mail me"},
            headers=bearer(token),
        )
        response.raise_for_status()
        made.append(response.json()["followup"]["id"])
    with sqlite3.connect(omnichat.database_path, timeout=5) as db:
        db.execute("UPDATE followups SET email = ? WHERE name = ?", (legacy, names[1]))
    db.close()
    local, domain = legal.rsplit("@", 1)
    encoded = "mailto:x%3Fbcc%3Da%2540evil.test@" + domain
    assert local == "x?bcc=a%40evil.test"

    page = pages.new()
    sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD, path="/admin/followups")
    card = page.get_by_role("listitem").filter(has_text=names[0])
    expect(card.get_by_role("link", name=legal)).to_have_attribute("href", encoded)
    old = page.get_by_role("listitem").filter(has_text=names[1])
    expect(old).to_contain_text(legacy)
    expect(old.get_by_role("link", name=re.compile("@"))).to_have_count(0)

    page.goto(f"{omnichat.base_url}/admin/conversations/{conversation_id}")
    details = page.get_by_role("complementary", name="Visitor details")
    expect(details.get_by_role("link", name=legal)).to_have_attribute("href", encoded)
    for followup_id in made:  # out of the way of the other tests' follow-up lists
        httpx.post(
            f"{omnichat.base_url}/api/v1/followups/{followup_id}/archive",
            headers=bearer(owner_token(omnichat)),
        ).raise_for_status()


def test_escalation_follow_up_flow_end_to_end(pages: Pages, omnichat: ServerProcess) -> None:
    """Nobody answers: the widget offers the form after the escalation, the visitor leaves their
    details and is thanked, and the follow-up appears live for staff, who view and archive it."""
    headers = bearer(owner_token(omnichat))
    site = omnichat.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    timings = {key: site[key] for key in ("patience_seconds", "escalate_seconds")}
    omnichat.http.patch(
        f"/api/v1/sites/{site['id']}",
        json={"patience_seconds": 0, "escalate_seconds": 1},
        headers=headers,
    ).raise_for_status()
    try:
        agent = pages.new()
        sign_in(agent, omnichat, OWNER_EMAIL, OWNER_PASSWORD, path="/admin/followups")
        expect(agent.get_by_role("heading", name="Follow-ups")).to_be_visible()
        expect(agent.get_by_role("status").filter(has_text="Live")).to_be_visible()

        guest = pages.new()
        guest.goto(f"{omnichat.base_url}/demo")
        guest.get_by_role("button", name=re.compile("chat", re.I)).click()
        guest.get_by_role("textbox", name="Message").fill("Is anybody there?")
        guest.get_by_role("textbox", name="Message").press("Enter")
        log = guest.get_by_role("log")
        expect(
            log.get_by_text("All staff are currently assisting others", exact=False)
        ).to_be_visible()
        name = "Olga " + uuid.uuid4().hex[:6]
        guest.get_by_role("textbox", name="Name").fill(name)
        guest.get_by_role("textbox", name="Email").fill("olga@example.com")
        guest.get_by_role("textbox", name="How can we help?").fill("Please call me back")
        guest.locator("omnichat-widget .followup").get_by_role("button", name="Send").click()
        expect(log.get_by_text("Thank you for your message.", exact=False)).to_have_count(1)
    finally:
        omnichat.http.patch(
            f"/api/v1/sites/{site['id']}", json=timings, headers=headers
        ).raise_for_status()

    card = agent.get_by_role("listitem").filter(has_text=name)
    expect(card).to_contain_text("olga@example.com")
    expect(card).to_contain_text("Please call me back")
    card.get_by_role("button", name="Mark viewed").click()
    expect(card).to_have_count(0)
    agent.get_by_role("button", name="Viewed").click()
    viewed = agent.get_by_role("listitem").filter(has_text=name)
    viewed.get_by_role("button", name="Archive").click()
    expect(viewed).to_have_count(0)
    agent.get_by_role("button", name="Archived").click()
    expect(agent.get_by_role("listitem").filter(has_text=name)).to_be_visible()
