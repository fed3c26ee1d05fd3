"""What staff see about a visitor, and what the visitor sees about staff, in a real browser
against a real server: the conversation pane's details (context, pages visited, rating, earlier
conversations) and the widget following an agent's availability switch. Each test works in a
tenant of its own, with the widget embedded on a customer page of another origin."""

from __future__ import annotations

import functools
import http.server
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.agents import site_key
from tests.servers import ServerProcess
from tests.staff import PASSWORD, login, unique_email, unique_ip
from tests.test_accessibility_browser import serious_violations
from tests.test_presence_browser import sign_in, staff
from tests.test_widget_browser import QuietHandler, launcher, message_box, open_chat
from tests.timing import UNIT, eventually
from tests.visitors import bearer, new_session

TIMEOUT = 10 * UNIT
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>Our practice</h1>
<script src="{base}/widget.js" data-site="{key}" async></script></body></html>
"""


@pytest.fixture
def pages(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Fresh browser contexts for the test: each a separate person with empty storage."""
    contexts = []

    def new() -> Page:
        # CSP bypassed only so axe can be injected.
        context = browser.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
        contexts.append(context)
        return context.new_page()

    yield new
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def customer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served on another loopback port: the customer's origin."""
    root = tmp_path_factory.mktemp("customer")
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def customer_page(server: ServerProcess, customer: tuple[Path, str], key: str, title: str) -> str:
    root, origin = customer
    name = f"{uuid.uuid4().hex[:8]}.html"
    (root / name).write_text(PAGE.format(title=title, base=server.base_url, key=key))
    return f"{origin}/{name}"


def conversation_of(server: ServerProcess, headers: dict[str, str], name: str) -> int:
    """The id of the conversation whose visitor gave `name`, once it exists."""

    def found() -> int | None:
        listed = server.http.get("/api/v1/conversations?status=all", headers=headers).json()
        ids = [c["id"] for c in listed["conversations"] if c["visitor"]["name"] == name]
        return ids[0] if ids else None

    return int(eventually(found, TIMEOUT, f"{name}'s conversation"))


def test_details_pane_shows_context_pages_rating_and_earlier_conversations(
    pages: Callable[[], Page], server: ServerProcess, customer: tuple[Path, str]
) -> None:
    """Staff see the visitor's current page (a safe link), browser, the pages visited (live,
    newest first), the claimed identity, the rating once given, and the conversations of
    another visitor with the same email, linked both ways; the full pane passes axe."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    admin_email = staff(server, "admin", tenant)
    headers = login(server, admin_email, PASSWORD, ip=unique_ip()).headers
    key = site_key(server, tenant)
    url = customer_page(server, customer, key, "Booking")
    patient_email = unique_email("patient")
    name = f"Maria {uuid.uuid4().hex[:6]}"

    visitor = pages()
    visitor.goto(url)
    open_chat(visitor)
    visitor.evaluate("([name, email]) => Omnichat.identify({name, email})", [name, patient_email])
    message_box(visitor).fill("I need an appointment")
    message_box(visitor).press("Enter")
    expect(visitor.get_by_role("log").locator(".msg.pending")).to_have_count(0)
    first = conversation_of(server, headers, name)

    # The same person another time, from another browser: a second visitor, same email.
    token = new_session(server, site_key=key)["token"]
    server.http.post(
        "/api/v1/widget/identify", json={"email": patient_email}, headers=bearer(token)
    ).raise_for_status()
    sent = server.http.post(
        "/api/v1/widget/messages",
        json={"client_id": uuid.uuid4().hex, "text": "me again"},
        headers=bearer(token),
    )
    sent.raise_for_status()
    second = int(sent.json()["message"]["conversation_id"])

    agent = pages()
    sign_in(agent, server, admin_email)
    agent.goto(f"{server.base_url}/admin/conversations/{first}")
    details = agent.get_by_role("complementary", name="Visitor details")
    expect(details.get_by_role("heading", name=name)).to_contain_text("Given by the visitor")
    current = details.get_by_role("link", name=url, exact=True)
    expect(current).to_have_attribute("href", url)
    expect(current).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(details).to_contain_text("Booking")
    expect(details).to_contain_text(re.compile(r"Browser\s*Chrome \d+ on Linux"))

    visited = details.get_by_role("list", name="Pages visited")
    visited.scroll_into_view_if_needed()
    expect(visited.get_by_role("listitem")).to_have_count(1)
    expect(visited.get_by_role("link", name="Booking")).to_have_attribute("href", url)
    earlier = details.get_by_role("list", name="Earlier conversations")
    expect(earlier.get_by_role("link")).to_have_text([re.compile(f"^#{second} ")])

    # The visitor moves on: the pane follows without a reload, newest first.
    visitor.evaluate("document.title = 'Directions'; history.pushState({}, '', '/directions')")
    directions = f"{customer[1]}/directions"
    expect(visited.get_by_role("listitem")).to_have_count(2)
    expect(visited.get_by_role("link")).to_have_text(["Directions", "Booking"])
    expect(details.get_by_role("link", name=directions, exact=True)).to_be_visible()

    agent.get_by_role("button", name="Close", exact=True).click()
    agent.get_by_role("button", name="Close conversation").click()
    rating = visitor.locator("omnichat-widget .rating")
    expect(rating).to_be_visible()
    rating.get_by_role("button", name="4 out of 5").click()
    rating.get_by_label("Comment (optional)").fill("Quick and <b>kind</b>")
    rating.get_by_role("button", name="Send").click()
    expect(rating).to_be_hidden()
    expect(details).to_contain_text("4 of 5")
    expect(details.locator("q")).to_have_text("Quick and <b>kind</b>")
    assert serious_violations(agent, "details") == []

    earlier.get_by_role("link", name=f"#{second}").click()
    expect(agent).to_have_url(f"{server.base_url}/admin/conversations/{second}")
    expect(earlier.get_by_role("listitem")).to_have_count(1)
    expect(earlier.get_by_role("listitem")).to_contain_text(f"#{first} {name}")
    expect(earlier.get_by_role("listitem")).to_contain_text("closed")
    expect(earlier.get_by_role("listitem")).to_contain_text("rated 4 of 5")


def test_availability_switch_changes_what_the_widget_shows(
    pages: Callable[[], Page], server: ServerProcess, customer: tuple[Path, str]
) -> None:
    """With an agent's admin page open and online, the widget says "We're online"; after the
    agent switches to Away, a fresh widget says "We'll get back to you" and offers the
    follow-up form up front."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    agent_email = staff(server, "agent", tenant)
    url = customer_page(server, customer, site_key(server, tenant), "Contact")

    agent = pages()
    sign_in(agent, server, agent_email)
    switch = agent.get_by_role("switch", name="Available for chats")
    expect(switch).to_have_attribute("aria-checked", "true")

    visitor = pages()
    visitor.goto(url)
    launcher(visitor).click()
    expect(visitor.locator("omnichat-widget .state")).to_contain_text("We're online")
    expect(visitor.get_by_text("No one is online right now.")).to_have_count(0)
    expect(visitor.get_by_role("button", name="Leave a message")).to_be_hidden()

    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    later = pages()
    later.goto(url)
    launcher(later).click()
    expect(later.locator("omnichat-widget .state")).to_contain_text("We'll get back to you")
    expect(later.get_by_text("No one is online right now.")).to_be_visible()
    leave = later.get_by_role("button", name="Leave a message")
    expect(leave).to_be_visible()
    expect(leave).to_have_attribute("aria-expanded", "true")
    expect(later.get_by_role("textbox", name="How can we help?")).to_be_visible()
    expect(message_box(later)).to_be_visible()
