"""The admin page's API tokens screen in a real browser against a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_accessibility_browser import SIZES, serious_violations
from tests.test_admin_browser import expect_inbox, sign_in
from tests.visitors import bearer


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own."""
    data_dir = tmp_path_factory.mktemp("tokens") / "data"
    env = server_env(data_dir, OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP="0")
    process = ServerProcess(data_dir, env).start()
    yield process
    process.stop()


@pytest.fixture(params=list(SIZES))
def context(request: pytest.FixtureRequest, browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context at desktop or phone size; CSP bypassed only so axe can be injected."""
    opened = browser.new_context(viewport=SIZES[request.param], bypass_csp=True)
    yield opened
    opened.close()


def tokens_screen(context: BrowserContext, server: ServerProcess) -> Page:
    page = context.new_page()
    sign_in(page, server, OWNER_EMAIL, OWNER_PASSWORD)
    expect_inbox(page)
    page.goto(server.base_url + "/admin/tokens")
    expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()
    return page


def test_create_shows_the_secret_once_and_revoke_removes_the_token(
    context: BrowserContext, omnichat: ServerProcess
) -> None:
    """Creating a token shows a working secret once (gone after Done and a reload); revoking it
    after confirming removes its row and the secret stops working; the screen passes axe and
    fits the width."""
    name = f"Booking {uuid.uuid4().hex[:6]}"
    page = tokens_screen(context, omnichat)
    form = page.get_by_role("form", name="Create an API token")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Role").select_option("agent")
    form.get_by_role("button", name="Create token").click()

    shown = page.get_by_role("textbox", name="API token secret")
    expect(shown).to_be_visible()
    secret = shown.input_value()
    assert secret.startswith("omni_")
    expect(page.get_by_text("shown only this once")).to_be_visible()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    used = omnichat.http.get("/api/v1/conversations", headers=bearer(secret))
    assert used.status_code == 200
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("agent")
    assert serious_violations(page, "tokens with secret") == []
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")

    page.get_by_role("button", name="Done").click()
    expect(shown).to_have_count(0)
    page.reload()
    expect(row).to_be_visible()
    expect(row).not_to_contain_text("never")  # the request above was recorded as its last use
    assert secret not in page.content()

    row.get_by_role("button", name=f"Revoke {name}").click()
    confirm = page.get_by_role(
        "group", name=f"Revoke {name}? Programs using it stop working at once."
    )
    confirm.get_by_role("button", name="Revoke", exact=True).click()
    expect(row).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text=f"Token {name} revoked.")).to_have_count(1)
    refused = omnichat.http.get("/api/v1/conversations", headers=bearer(secret))
    assert refused.status_code == 401
