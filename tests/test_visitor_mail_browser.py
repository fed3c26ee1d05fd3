"""The pages a reply mail leads a visitor to, in Chromium under the server's own CSP."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.agents import reply, visitor_says
from tests.mailbox import Mailbox
from tests.servers import ServerProcess
from tests.staff import sign_in_owner, unique_email, unique_ip
from tests.timing import UNIT, eventually
from tests.visitors import bearer, default_site_key


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def test_the_mail_links_open_the_chat_and_unsubscribe_in_a_browser(
    start_server: Callable[..., ServerProcess], mailbox: Mailbox, page: Page
) -> None:
    """The reply mail's chat link opens a page with the widget already open, and its
    unsubscribe link shows a button that unsubscribes, with no CSP violation on either page."""
    server = start_server(**mailbox.env(), OMNICHAT_EMAIL_VISITOR_BATCH_SECONDS=str(0.5 * UNIT))
    owner = sign_in_owner(server)
    address = unique_email("visitor")
    token, first = visitor_says(server, "hello")
    told = server.http.post(
        "/api/v1/widget/identify",
        json={"email": address},
        headers={**bearer(token), "X-Forwarded-For": unique_ip()},
    )
    assert told.status_code == 200, told.text
    assert reply(server, owner, first["conversation_id"], "We are here.").status_code == 201
    text = eventually(lambda: mailbox.to(address), 10 * UNIT, "the reply mail")[0].part("plain")
    chat = re.search(r"https://chat\.clinic\.example(/chat/\S+)", text)
    stop = re.search(r"https://chat\.clinic\.example(/mail/unsubscribe\?\S+)", text)
    assert chat and stop
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", watch)
    page.goto(server.base_url + chat.group(1))
    assert chat.group(1) == f"/chat/{default_site_key(server)}"
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    page.goto(server.base_url + stop.group(1))
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert violations == []
