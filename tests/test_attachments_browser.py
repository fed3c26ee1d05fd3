"""Files in a real browser against a real server: a visitor attaches a photo in the widget and
staff view it; staff attach a PDF in the reply box and the visitor gets a download link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.attachments import HTML, PDF, PNG
from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_admin_browser import sign_in
from tests.test_widget_browser import message_box, open_chat
from tests.test_widget_parts_browser import customer_page, pages_dir, staff  # noqa: F401
from tests.timing import UNIT

TIMEOUT = 10_000 * UNIT  # milliseconds, for playwright


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("files") / "data"
    env = server_env(data_dir, OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP="0")
    process = ServerProcess(data_dir, env).start()
    yield process
    process.stop()


@pytest.fixture
def two_pages(browser: Browser) -> Iterator[tuple[Page, Page]]:
    """A visitor's page and a staff member's page, each in a fresh context."""
    visitor = browser.new_context()
    agent = browser.new_context(viewport={"width": 1280, "height": 720})
    yield visitor.new_page(), agent.new_page()
    visitor.close()
    agent.close()


def file_input(page: Page) -> str:
    return "omnichat-widget input[type=file]"


def open_in_admin(page: Page, omnichat: ServerProcess, text: str) -> None:
    sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD)
    row = page.locator(".conversation-list .row").filter(has_text=text)
    expect(row).to_be_visible(timeout=TIMEOUT)
    row.click()


def test_visitor_photo_shows_as_a_thumbnail_staff_open_in_a_viewer(
    two_pages: tuple[Page, Page],
    omnichat: ServerProcess,
    staff: dict[str, str],  # noqa: F811
    pages_dir: tuple[Path, str],  # noqa: F811
) -> None:
    """The visitor picks a photo with the attach button's file input, sees its preview, sends
    it; staff see the thumbnail, open it in a dialog and Esc closes it, focus back on it."""
    visitor, agent = two_pages
    url, _ = customer_page(omnichat, staff, pages_dir)
    visitor.goto(url)
    open_chat(visitor)
    expect(visitor.get_by_role("button", name="Attach a file")).to_be_visible()
    visitor.set_input_files(
        file_input(visitor), files=[{"name": "rash.png", "mimeType": "image/png", "buffer": PNG}]
    )
    chip = visitor.locator("omnichat-widget .tray .chip")
    expect(chip.locator("img")).to_be_visible()
    expect(visitor.get_by_role("button", name="Remove rash.png")).to_be_visible(timeout=TIMEOUT)
    message_box(visitor).fill("Photo of the rash")
    message_box(visitor).press("Enter")
    sent = visitor.get_by_role("log").get_by_role("img", name="rash.png")
    expect(sent).to_be_visible(timeout=TIMEOUT)
    expect(sent).to_have_attribute("loading", "lazy")
    expect(chip).to_have_count(0)

    open_in_admin(agent, omnichat, "Photo of the rash")
    thumb = agent.get_by_role("button", name="View rash.png")
    expect(thumb).to_be_visible(timeout=TIMEOUT)
    thumb.click()
    dialog = agent.get_by_role("dialog", name="rash.png")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("img", name="rash.png")).to_be_visible()
    agent.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(thumb).to_be_focused()


def test_staff_pdf_reaches_the_visitor_as_a_download_link(
    two_pages: tuple[Page, Page],
    omnichat: ServerProcess,
    staff: dict[str, str],  # noqa: F811
    pages_dir: tuple[Path, str],  # noqa: F811
) -> None:
    """Staff attach a PDF from the reply box (a chip until Send) and the visitor sees a link
    named with the file's name and size that serves the file; a refused type is said clearly."""
    visitor, agent = two_pages
    url, _ = customer_page(omnichat, staff, pages_dir)
    visitor.goto(url)
    open_chat(visitor)
    message_box(visitor).fill("Can you send the referral form?")
    message_box(visitor).press("Enter")

    open_in_admin(agent, omnichat, "Can you send the referral form?")
    composer = agent.get_by_role("form", name="Reply to the visitor")
    composer.locator("input[type=file]").set_input_files(
        files=[{"name": "referral.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    expect(agent.get_by_role("button", name="Remove referral.pdf")).to_be_visible(timeout=TIMEOUT)
    agent.get_by_role("textbox", name="Reply").fill("Here is the form")
    agent.get_by_role("textbox", name="Reply").press("Enter")
    chip = agent.get_by_role("log").get_by_role("link", name=re.compile("referral.pdf"))
    expect(chip).to_be_visible(timeout=TIMEOUT)

    link = visitor.get_by_role("log").get_by_role("link", name=f"referral.pdf ({len(PDF)} bytes)")
    expect(link).to_be_visible(timeout=TIMEOUT)
    href = link.get_attribute("href") or ""
    assert href.startswith(omnichat.base_url + "/api/v1/files/")
    assert omnichat.http.get(href.removeprefix(omnichat.base_url)).content == PDF

    visitor.set_input_files(
        file_input(visitor), files=[{"name": "page.png", "mimeType": "image/png", "buffer": HTML}]
    )
    problem = visitor.get_by_role("alert").filter(has_text="page.png")
    expect(problem).to_contain_text("page.png cannot be sent")
