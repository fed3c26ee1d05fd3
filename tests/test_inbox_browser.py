"""The inbox's landing view and field errors in a real browser against a real server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.staff import unique_ip
from tests.timing import UNIT
from tests.visitors import bearer, new_session

ESCALATION = "All staff are currently assisting others"


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, so its inbox holds only these tests' conversations."""
    data_dir = tmp_path_factory.mktemp("inbox") / "data"
    env = server_env(data_dir, OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP="0")
    process = ServerProcess(data_dir, env).start()
    yield process
    process.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    yield context.new_page()
    context.close()


def owner_headers(server: ServerProcess) -> dict[str, str]:
    response = server.http.post(
        "/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    )
    response.raise_for_status()
    return bearer(response.json()["access_token"])


def sign_in(page: Page, server: ServerProcess, path: str = "/admin") -> None:
    page.goto(server.base_url + path)
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def visitor_writes(server: ServerProcess, site_key: str, name: str, text: str) -> None:
    address = {"X-Forwarded-For": unique_ip()}
    token = new_session(server, site_key=site_key, **address)["token"]
    headers = {**bearer(token), **address}
    server.http.post(
        "/api/v1/widget/identify", json={"name": name}, headers=headers
    ).raise_for_status()
    server.http.post(
        "/api/v1/widget/messages",
        json={"client_id": uuid.uuid4().hex, "text": text},
        headers=headers,
    ).raise_for_status()


def test_an_escalated_chat_is_in_the_landing_view_and_marked(
    page: Page, omnichat: ServerProcess
) -> None:
    """Staff land on Waiting, where a chat that escalated shows, marked Escalated, with the
    visitor's own words as its preview and its waiting time, not the escalation text."""
    headers = owner_headers(omnichat)
    site = omnichat.http.post(
        "/api/v1/sites",
        json={"name": "Quick", "patience_seconds": 1, "escalate_seconds": 2},
        headers=headers,
    ).json()["site"]
    visitor_writes(omnichat, site["site_key"], "Patient Zed", "My tooth hurts a lot")
    sign_in(page, omnichat)
    expect(page.get_by_role("heading", name="Waiting")).to_be_visible()
    current = page.get_by_role("navigation", name="Inbox views").locator("[aria-current=page]")
    expect(current).to_contain_text("Waiting")
    row = (
        page.get_by_role("list", name="Conversations")
        .get_by_role("link")
        .filter(has_text="Patient Zed")
    )
    expect(row).to_be_visible()
    expect(row.get_by_text("Escalated", exact=True)).to_be_visible(timeout=10_000 * UNIT)
    expect(row).to_have_class(re.compile(r"\bescalated\b"))
    expect(row).to_contain_text("My tooth hurts a lot")
    expect(row).not_to_contain_text(ESCALATION)
    expect(row).to_contain_text("waiting")
    expect(row).not_to_contain_text("null")  # a row without labels once read "...null"


def test_a_refused_field_shows_its_error_next_to_it(page: Page, omnichat: ServerProcess) -> None:
    """A site setting the server refuses is marked invalid, with the reason as its description."""
    sign_in(page, omnichat, "/admin/sites")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Quick"))
    card.get_by_role("button", name="Edit settings").click()
    country = card.get_by_label("Country for phone numbers")
    country.fill("XX")
    card.get_by_role("button", name="Save").click()
    expect(country).to_have_attribute("aria-invalid", "true")
    expect(country).to_have_accessible_description(
        "Must be a two-letter country code such as US or GB"
    )
    expect(country).to_be_focused()
    country.fill("gb")
    card.get_by_role("button", name="Save").click()
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Quick"))
    expect(card.get_by_label("Country for phone numbers")).to_have_value("GB")
