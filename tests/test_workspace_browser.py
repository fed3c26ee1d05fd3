"""The admin page's canned replies and labels in a real browser against a real server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_admin_browser import (
    Pages,
    expect_inbox,
    owner_token,
    row,
    sign_in,
    visitor,
    visitor_says,
)
from tests.visitors import bearer


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, with no automatic messages to reorder the inbox."""
    data_dir = tmp_path_factory.mktemp("workspace") / "data"
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
def pages(browser: Browser) -> Iterator[Pages]:
    """Fresh pages for the test; no flow may open an alert/confirm/prompt dialog."""
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        context.close()
    assert opened.dialogs == [], f"dialogs opened: {opened.dialogs}"


def signed_in(pages: Pages, server: ServerProcess) -> Page:
    page = pages.new()
    sign_in(page, server, OWNER_EMAIL, OWNER_PASSWORD)
    expect_inbox(page)
    return page


def test_canned_reply_picker_inserts_with_placeholders_filled(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """A reply added on its screen is offered by `/` in the reply box; arrows choose, typing
    filters, Enter inserts it with the visitor's and agent's names filled in (not sent), Escape
    closes the list."""
    headers = bearer(owner_token(omnichat))
    me = omnichat.http.get("/api/v1/auth/me", headers=headers).json()["user"]
    omnichat.http.post(
        "/api/v1/canned",
        json={"shortcut": "bye", "text": "Goodbye {{visitor.name}}!", "shared": True},
        headers=headers,
    ).raise_for_status()
    word = "canned" + uuid.uuid4().hex[:8]
    visitor_says(omnichat, visitor(omnichat, name="Maria Lopez"), f"{word} hi")

    page = signed_in(pages, omnichat)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Canned replies").click()
    page.get_by_label("Shortcut").fill("greet")
    page.get_by_label("Text").fill("Hello {{visitor.name}}, this is {{agent.name}}.")
    page.get_by_role("button", name="Add reply").click()
    expect(page.get_by_role("cell", name="/greet", exact=True)).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    row(page, word).click()
    reply = page.get_by_role("textbox", name="Reply")
    reply.press_sequentially("/")
    picker = page.get_by_role("listbox", name="Canned replies")
    expect(picker).to_be_visible()
    options = picker.get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    reply.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    active = reply.get_attribute("aria-activedescendant")
    assert active and page.locator(f"#{active}").get_attribute("aria-selected") == "true"

    reply.press_sequentially("gre")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("/greet")
    reply.press("Enter")
    expect(picker).to_be_hidden()
    expect(reply).to_have_value(f"Hello Maria Lopez, this is {me['name']}.")
    expect(reply).to_be_focused()
    transcript = page.get_by_role("log", name="Transcript")
    expect(transcript).not_to_contain_text("Hello Maria")

    reply.fill("")
    reply.press_sequentially("/")
    expect(picker).to_be_visible()
    reply.press("Escape")
    expect(picker).to_be_hidden()
    expect(reply).to_have_value("/")
    # Enter inserts the one match; the next Enter sends it.
    reply.fill("")
    reply.press_sequentially("/by")
    reply.press("Enter")
    reply.press("Enter")
    expect(transcript.locator(".message.from-agent .message-text")).to_have_text(
        "Goodbye Maria Lopez!"
    )


def test_label_filter_is_kept_in_the_url_across_a_reload(
    pages: Pages, omnichat: ServerProcess
) -> None:
    """An admin adds a label, an agent's pane sets it on a conversation (chip in the row), the
    inbox filter shows only labelled conversations, and a reload keeps the filter."""
    headers = bearer(owner_token(omnichat))
    omnichat.http.post(
        "/api/v1/labels", json={"name": "Urgent", "color": "#b42318"}, headers=headers
    ).raise_for_status()
    word = "label" + uuid.uuid4().hex[:8]
    labelled = f"{word} about my invoice"
    other = f"{word} something else"
    visitor_says(omnichat, visitor(omnichat), labelled)
    visitor_says(omnichat, visitor(omnichat), other)

    page = signed_in(pages, omnichat)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Canned replies").click()
    page.get_by_label("Label name").fill("Billing")
    page.get_by_role("button", name="Add label").click()
    expect(page.get_by_role("list", name="Labels")).to_contain_text("Billing")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    row(page, labelled).click()
    labels = page.get_by_role("group", name="Labels")
    labels.get_by_role("checkbox", name="Billing").check()
    expect(row(page, labelled).locator(".label-chip")).to_have_text(["Billing"])
    expect(labels.get_by_role("checkbox", name="Billing")).to_be_checked()
    expect(labels.get_by_role("checkbox", name="Urgent")).not_to_be_checked()

    page.get_by_label("Filter by label").select_option("Billing")
    expect(row(page, labelled)).to_be_visible()
    expect(row(page, other)).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]label=Billing(&|$)"))

    page.reload()
    expect_inbox(page)
    expect(page.get_by_label("Filter by label")).to_have_value("Billing")
    expect(row(page, labelled)).to_be_visible()
    expect(row(page, other)).to_have_count(0)

    page.get_by_label("Filter by label").select_option("")
    expect(row(page, other)).to_be_visible()
    expect(page).not_to_have_url(re.compile("label="))
