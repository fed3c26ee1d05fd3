"""The widget's parts loaded on demand, in a real browser against a real server: the pre-chat
form, the rating after a close, the phone panel's focus trap and scroll lock, and the context
and page frames staff see. Each test makes a site of its own, embedded on another origin."""

from __future__ import annotations

import functools
import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_widget_browser import QuietHandler, launcher, message_box, open_chat, shown
from tests.timing import UNIT, eventually

TIMEOUT = 10 * UNIT
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>Our practice</h1><a href="#">first link</a><div style="height:3000px">tall</div>
<script src="{base}/widget.js" data-site="{key}" async></script></body></html>
"""


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("parts") / "data"
    process = ServerProcess(data_dir, server_env(data_dir)).start()
    yield process
    process.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context: a new visitor with empty storage."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def staff(omnichat: ServerProcess) -> dict[str, str]:
    response = omnichat.http.post(
        "/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def pages_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served on another loopback port: the customer's origin."""
    root = tmp_path_factory.mktemp("customer")
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def customer_page(
    omnichat: ServerProcess,
    staff: dict[str, str],
    pages_dir: tuple[Path, str],
    **settings: Any,
) -> tuple[str, dict[str, Any]]:
    """A new site with `settings` and a customer page embedding it; its URL and the site."""
    body = {"name": "Clinic", "patience_seconds": 0, "escalate_seconds": 0, **settings}
    response = omnichat.http.post("/api/v1/sites", json=body, headers=staff)
    response.raise_for_status()
    site = response.json()["site"]
    root, origin = pages_dir
    name = f"{uuid.uuid4().hex[:8]}.html"
    html = PAGE.format(title="Booking", base=omnichat.base_url, key=site["site_key"])
    (root / name).write_text(html)
    return f"{origin}/{name}", site


def conversations(omnichat: ServerProcess, staff: dict[str, str], site_name: str) -> Any:
    listed = omnichat.http.get("/api/v1/conversations?status=all", headers=staff).json()
    return listed["conversations"]


def only_conversation(omnichat: ServerProcess, staff: dict[str, str], visitor_name: str) -> Any:
    def found() -> Any:
        for conversation in conversations(omnichat, staff, ""):
            if conversation["visitor"]["name"] == visitor_name:
                return conversation
        return None

    return eventually(found, TIMEOUT, f"{visitor_name}'s conversation")


def test_prechat_form_comes_before_the_first_message(
    page: Page, omnichat: ServerProcess, staff: dict[str, str], pages_dir: tuple[Path, str]
) -> None:
    """With the form on, the visitor gives the required fields first; then the message is sent
    and staff see the given (unverified) name and email."""
    prechat = {"enabled": True, "fields": ["name", "email"], "required": ["name", "email"]}
    url, _ = customer_page(omnichat, staff, pages_dir, prechat=prechat)
    page.goto(url)
    launcher(page).click()
    form = page.locator("omnichat-widget .prechat")
    expect(form).to_be_visible()
    expect(message_box(page)).to_be_hidden()
    form.get_by_role("button", name="Start chat").click()
    expect(form.get_by_role("alert")).to_have_text("Please fill in this field.")
    name = f"Maria {uuid.uuid4().hex[:6]}"
    form.get_by_label("Name").fill(name)
    form.get_by_label("Email").fill("maria.lopez@example.org")
    form.get_by_role("button", name="Start chat").click()
    expect(form).to_be_hidden()
    expect(message_box(page)).to_be_focused()
    message_box(page).fill("I need an appointment")
    message_box(page).press("Enter")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    expect(shown(page, "I need an appointment")).to_have_count(1)
    conversation = only_conversation(omnichat, staff, name)
    assert conversation["visitor"]["email"] == "maria.lopez@example.org"
    assert conversation["visitor"]["verified"] is False
    # A reload does not ask again.
    page.reload()
    open_chat(page)
    expect(message_box(page)).to_be_visible()
    expect(page.locator("omnichat-widget .prechat")).to_have_count(0)


def test_rating_is_offered_when_staff_close_and_reaches_them(
    page: Page, omnichat: ServerProcess, staff: dict[str, str], pages_dir: tuple[Path, str]
) -> None:
    """After an agent closes the chat the widget offers 1-5 stars; the score and comment are
    on the conversation staff read."""
    url, _ = customer_page(omnichat, staff, pages_dir)
    page.goto(url)
    open_chat(page)
    page.evaluate("Omnichat.identify({name: %r})" % (name := f"Rater {uuid.uuid4().hex[:6]}"))
    message_box(page).fill("Thanks for the help")
    message_box(page).press("Enter")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    conversation = only_conversation(omnichat, staff, name)
    closed = omnichat.http.post(f"/api/v1/conversations/{conversation['id']}/close", headers=staff)
    closed.raise_for_status()
    rating = page.locator("omnichat-widget .rating")
    expect(rating).to_be_visible()
    rating.get_by_role("button", name="Send").click()
    expect(rating.get_by_role("alert")).to_have_text("Please choose a score from 1 to 5.")
    rating.get_by_role("button", name="4 out of 5").click()
    rating.get_by_label("Comment (optional)").fill("Quick and kind")
    rating.get_by_role("button", name="Send").click()
    expect(rating).to_be_hidden()
    expect(page.get_by_text("Thank you for your feedback.")).to_be_visible()

    def rated() -> Any:
        read = omnichat.http.get(f"/api/v1/conversations/{conversation['id']}", headers=staff)
        return read.json()["conversation"]["rating"]

    found = eventually(rated, TIMEOUT, "the rating on the conversation")
    assert found["score"] == 4 and found["comment"] == "Quick and kind"


def test_context_and_single_page_navigation_reach_staff(
    page: Page, omnichat: ServerProcess, staff: dict[str, str], pages_dir: tuple[Path, str]
) -> None:
    """The session carries the page's URL, title, language and time zone; pushState sends a
    page frame, so staff see the pages visited, newest first."""
    url, _ = customer_page(omnichat, staff, pages_dir)
    page.goto(url)
    open_chat(page)
    page.evaluate("Omnichat.identify({name: %r})" % (name := f"Nav {uuid.uuid4().hex[:6]}"))
    message_box(page).fill("Where is the clinic?")
    message_box(page).press("Enter")
    expect(page.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    # Read before navigating: the page frame would otherwise race the read.
    conversation = only_conversation(omnichat, staff, name)
    context = conversation["visitor"]["context"]
    assert context["url"] == url and context["title"] == "Booking"
    assert context["language"] and context["timezone"] and context["browser"]
    page.evaluate("document.title = 'Directions'; history.pushState({}, '', '/directions')")

    def visited() -> Any:
        path = f"/api/v1/conversations/{conversation['id']}/pages"
        listed = omnichat.http.get(path, headers=staff).json()["pages"]
        return listed if len(listed) == 2 else None

    listed = eventually(visited, TIMEOUT, "two pages")
    assert listed[0]["url"].endswith("/directions") and listed[0]["title"] == "Directions"
    assert listed[1]["url"] == url


def test_phone_panel_traps_focus_locks_scroll_and_closes_on_escape(
    browser: Browser, omnichat: ServerProcess, staff: dict[str, str], pages_dir: tuple[Path, str]
) -> None:
    """On a phone the open panel keeps Tab inside it and the page behind from scrolling; Esc
    closes it and gives both back. Its inputs use 16 px text (no zoom on focus)."""
    url, _ = customer_page(omnichat, staff, pages_dir)
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    page.goto(url)
    launcher(page).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("dialog").get_by_role("heading", name="Clinic")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.documentElement).overflow") == "hidden"
    size = message_box(page).evaluate("node => getComputedStyle(node).fontSize")
    assert float(size.removesuffix("px")) >= 16
    message_box(page).focus()
    for _ in range(12):
        page.keyboard.press("Tab")
        inside = page.evaluate(
            "document.activeElement.tagName === 'OMNICHAT-WIDGET'"
            " && document.activeElement.shadowRoot.activeElement !== null"
        )
        assert inside, "Tab left the chat panel"
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert page.evaluate("getComputedStyle(document.documentElement).overflow") != "hidden"
    context.close()


def test_default_site_name_is_not_the_title(
    page: Page, omnichat: ServerProcess, staff: dict[str, str], pages_dir: tuple[Path, str]
) -> None:
    """The bootstrap site's name "Default site" is replaced by a neutral title."""
    url, _ = customer_page(omnichat, staff, pages_dir, name="Default site")
    page.goto(url)
    open_chat(page)
    expect(page.get_by_role("heading", name="Chat with us")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Default site"))).to_have_count(0)


def test_lazy_parts_are_served_as_cached_cross_origin_modules(omnichat: ServerProcess) -> None:
    """Each part is JavaScript any origin may import, cached like widget.js; others are 404."""
    for name in ("followup", "prechat", "rating", "form", "poll", "sound"):
        answer = omnichat.http.get(f"/widget/{name}.js")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith("text/javascript")
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["cache-control"] == "public, max-age=300"
    for bad in ("nope.js", "..%2Fwidget.js", "form.css"):
        assert omnichat.http.get(f"/widget/{bad}").status_code == 404
