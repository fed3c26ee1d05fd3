"""Mailed links and the installable admin app in a real browser against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.mailbox import Mailbox
from tests.servers import OWNER_EMAIL, ServerProcess, server_env
from tests.staff import login
from tests.test_accessibility_browser import SIZES, serious_violations
from tests.timing import UNIT, eventually


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("reach") / "data"
    process = ServerProcess(data_dir, server_env(data_dir, **mailbox.env())).start()
    yield process
    process.stop()


@pytest.fixture(params=list(SIZES))
def context(request: pytest.FixtureRequest, browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context at desktop or phone size; CSP bypassed only so axe can be injected."""
    opened = browser.new_context(viewport=SIZES[request.param], bypass_csp=True)
    yield opened
    opened.close()


def test_a_reset_link_sets_a_new_password_and_leaves_no_token_in_the_url(
    context: BrowserContext, omnichat: ServerProcess, mailbox: Mailbox
) -> None:
    """Asking for a reset on the sign-in screen mails a link; opening it shows a form with the
    token already gone from the address bar, and the new password signs in."""
    page = context.new_page()
    page.goto(omnichat.base_url + "/admin")
    already = len(mailbox.to(OWNER_EMAIL))
    page.get_by_role("button", name="Forgot your password?").click()
    page.get_by_label("Your email").fill(OWNER_EMAIL)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("status").filter(has_text="on its way")).to_be_visible()
    mail = eventually(lambda: mailbox.to(OWNER_EMAIL)[already:], 10 * UNIT, "the reset mail")[0]
    link = re.search(r"https://chat\.clinic\.example(/admin#reset=[\w-]+)", mail.part("plain"))
    assert link
    page.goto(omnichat.base_url + link.group(1))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert "#reset" not in page.url and "reset=" not in page.evaluate("location.href")
    assert serious_violations(page, "reset form") == []
    page.get_by_role("textbox", name="New password").fill("browser-chosen-password-5")
    page.get_by_role("textbox", name="Password again").fill("browser-chosen-password-5")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    login(omnichat, OWNER_EMAIL, "browser-chosen-password-5")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    omnichat.http.post(
        "/api/v1/auth/forgot", json={"email": OWNER_EMAIL}
    )  # leave a fresh link for the next size's run: the password is what this run set


def test_the_admin_page_is_an_installable_app(
    context: BrowserContext, omnichat: ServerProcess
) -> None:
    """The admin page links a manifest with icons and registers its service worker for the
    /admin/ scope."""
    page = context.new_page()
    page.goto(omnichat.base_url + "/admin")
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json())"
    )
    assert manifest["display"] == "standalone" and manifest["scope"] == "/admin/"
    for icon in manifest["icons"]:
        assert omnichat.http.get(icon["src"]).status_code == 200
    scopes = eventually(
        lambda: page.evaluate(
            "navigator.serviceWorker.getRegistrations().then((all) => all.filter((r) => r.active)"
            ".map((r) => r.scope))"
        ),
        10 * UNIT,
        "an active service worker",
    )
    assert scopes == [omnichat.base_url + "/admin/"]
    worker = omnichat.http.get("/admin/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "content-security-policy" in worker.headers
