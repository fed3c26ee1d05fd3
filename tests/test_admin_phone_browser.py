"""The admin page on a phone (390x844) and its durable reply outbox, in a real browser against a
real server: element boxes and what the API stores, never pixels."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_admin_browser import expect_inbox, owner_token, sign_in, visitor, visitor_says
from tests.visitors import bearer

PHONE = {"width": 390, "height": 844}
LONG_NAME = "Maximiliana Alexandra Konstantinopoulou-Wolfeschlegelsteinhausen the Third"


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, with no patience or escalation messages mid-test."""
    data_dir = tmp_path_factory.mktemp("phone") / "data"
    env = server_env(data_dir, OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP="0")
    process = ServerProcess(data_dir, env).start()
    headers = bearer(owner_token(process))
    site = process.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    process.http.patch(
        f"/api/v1/sites/{site['id']}",
        json={"patience_seconds": 86400, "escalate_seconds": 86400},
        headers=headers,
    ).raise_for_status()
    yield process
    process.stop()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A fresh 390x844 page."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    yield context.new_page()
    context.close()


def box(page: Page, locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} has no box"
    return dict(found)


def inside_viewport(found: dict[str, float]) -> bool:
    return (
        found["x"] >= 0
        and found["y"] >= 0
        and found["x"] + found["width"] <= PHONE["width"]
        and found["y"] + found["height"] <= PHONE["height"]
    )


def messages_with(server: ServerProcess, conversation: int, text: str) -> int:
    headers = bearer(owner_token(server))
    answer = server.http.get(
        f"/api/v1/conversations/{conversation}/messages?after_seq=0&limit=500", headers=headers
    )
    answer.raise_for_status()
    return sum(1 for message in answer.json()["messages"] if message["text"] == text)


def test_a_long_name_leaves_send_and_close_on_a_phone_screen(
    phone: Page, omnichat: ServerProcess
) -> None:
    """On a phone the conversation is a screen of its own: Send and Close stay on screen, the
    transcript gets most of the height, and Back returns to the list."""
    word = "phone" + uuid.uuid4().hex[:8]
    conversation = visitor_says(omnichat, visitor(omnichat, LONG_NAME), f"{word} hello")
    sign_in(phone, omnichat, OWNER_EMAIL, OWNER_PASSWORD)
    expect_inbox(phone)
    row = phone.locator(".conversation-list .row").filter(has_text=word)
    expect(row).to_be_visible()
    assert inside_viewport(box(phone, row))
    row.click()
    expect(phone).to_have_url(re.compile(f"/admin/conversations/{conversation}$"))
    transcript = phone.get_by_role("log", name="Transcript")
    expect(transcript).to_contain_text(f"{word} hello")
    # The list is a separate screen: hidden while the conversation shows.
    expect(phone.get_by_role("list", name="Conversations")).to_be_hidden()
    send = phone.get_by_role("button", name="Send")
    close = phone.get_by_role("button", name="Close", exact=True)
    for control in (send, close, phone.get_by_role("textbox", name="Reply")):
        expect(control).to_be_visible()
        assert inside_viewport(box(phone, control)), control
    assert box(phone, transcript)["height"] >= PHONE["height"] / 2
    # No sideways scrolling: the name is cut short, not the page made wider.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The details fold away and open on demand.
    details = phone.get_by_role("complementary", name="Visitor details")
    expect(details).to_be_hidden()
    phone.get_by_role("button", name="Details").click()
    expect(details).to_be_visible()
    phone.get_by_role("button", name="Details").click()
    expect(details).to_be_hidden()

    phone.get_by_role("link", name="Back to inbox").click()
    expect(phone).to_have_url(re.compile(r"/admin/inbox/\w+$"))
    expect(row).to_be_visible()
    expect(row).to_be_focused()
    expect(transcript).to_be_hidden()


def test_a_reply_typed_offline_survives_a_reload_and_is_delivered_once(
    browser: Browser, omnichat: ServerProcess
) -> None:
    """A reply (and a note) written while the server is unreachable waits in the page's outbox,
    is still there after a reload, and is sent once when the server is reachable again."""
    word = "outbox" + uuid.uuid4().hex[:8]
    conversation = visitor_says(omnichat, visitor(omnichat, "Olga Outbox"), f"{word} hi")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD, f"/admin/conversations/{conversation}")
        expect_inbox(page)
        transcript = page.get_by_role("log", name="Transcript")
        expect(transcript).to_contain_text(f"{word} hi")

        def refuse(route: Route) -> None:
            if route.request.method == "POST":
                route.abort()
            else:
                route.continue_()

        sends = "**/api/v1/conversations/*/messages"
        page.route(sends, refuse)
        context.set_offline(True)
        reply = page.get_by_role("textbox", name="Reply")
        reply.fill(f"{word} the reply")
        reply.press("Enter")
        page.get_by_label("Private note (agents only)").check()
        reply.fill(f"{word} the note")
        reply.press("Enter")
        pending = page.locator(".pending-list .message")
        expect(pending).to_have_count(2)
        expect(pending.first).to_contain_text("Not sent yet")

        # Back online but the sends still fail: the reload shows both replies waiting.
        context.set_offline(False)
        page.reload()
        expect_inbox(page)
        expect(page.locator(".pending-list .message")).to_have_count(2)
        expect(page.locator(".pending-list")).to_contain_text(f"{word} the reply")
        expect(page.locator(".pending-list .private")).to_contain_text(f"{word} the note")
        assert messages_with(omnichat, conversation, f"{word} the reply") == 0

        # The server is reachable again: both are sent, once each, and shown as stored.
        page.unroute(sends)
        expect(page.locator(".pending-list .message")).to_have_count(0, timeout=20_000)
        expect(transcript.locator(".message.from-agent")).to_contain_text(
            [f"{word} the reply", f"{word} the note"]
        )
        assert messages_with(omnichat, conversation, f"{word} the reply") == 1
        assert messages_with(omnichat, conversation, f"{word} the note") == 1
        stored = page.evaluate(
            "Object.keys(localStorage).filter((key) => key.startsWith('omnichat.outbox.'))"
        )
        assert stored == []
        # Nothing but the refresh token is a credential, and the outbox never held one.
        page.reload()
        expect(transcript).to_contain_text(f"{word} the note")
        assert messages_with(omnichat, conversation, f"{word} the reply") == 1
    finally:
        context.close()
