"""axe-core (tests/vendor/axe-core) on every admin screen and on the widget, at desktop and phone
sizes, in a real browser against a real server: no serious or critical violation anywhere."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_admin_browser import expect_inbox, owner_token, sign_in, visitor, visitor_says
from tests.visitors import bearer

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# Every admin screen of routes.js, by path, with the heading that says it has loaded.
SCREENS = [
    ("inbox", "/admin/inbox/active", "Waiting"),
    ("open", "/admin/inbox/open", "Open"),
    ("canned", "/admin/canned", "Canned replies"),
    ("follow-ups", "/admin/followups", "Follow-ups"),
    ("users", "/admin/users", "Users"),
    ("sites", "/admin/sites", "Sites"),
    ("reports", "/admin/reports", "Reports"),
    ("audit", "/admin/audit", "Audit log"),
    ("tokens", "/admin/tokens", "API tokens"),
    ("export", "/admin/export", "Export conversations"),
    ("webhooks", "/admin/webhooks", "Webhooks"),
    ("backups", "/admin/backups", "Backups"),
    ("account", "/admin/account", "Your account"),
]


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, with one conversation holding a link."""
    data_dir = tmp_path_factory.mktemp("axe") / "data"
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


@pytest.fixture(params=list(SIZES))
def context(request: pytest.FixtureRequest, browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context at one of the two sizes; CSP bypassed only so axe can be injected."""
    opened = browser.new_context(viewport=SIZES[request.param], bypass_csp=True)
    yield opened
    opened.close()


def serious_violations(page: Page, name: str) -> list[str]:
    """Run axe on the page as it is; the serious and critical findings, one line each."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']})"
        ".then((r) => ({violations: r.violations.map((v) => ({id: v.id, impact: v.impact,"
        " targets: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}))}))"
    )
    return [
        f"{name}: {violation['id']} ({violation['impact']}) at {violation['targets']}"
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_every_admin_screen_passes_axe(context: BrowserContext, omnichat: ServerProcess) -> None:
    """The sign-in form, every screen of the menu and an open conversation have no serious or
    critical axe finding."""
    word = "axe" + uuid.uuid4().hex[:8]
    conversation = visitor_says(
        omnichat, visitor(omnichat, "Ada Axe"), f"{word} see https://example.org/page?a=1"
    )
    page = context.new_page()
    found: list[str] = []
    page.goto(omnichat.base_url + "/admin")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    found += serious_violations(page, "login")
    sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD)
    expect_inbox(page)
    for name, path, heading in SCREENS:
        page.goto(omnichat.base_url + path)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        found += serious_violations(page, name)
    page.goto(f"{omnichat.base_url}/admin/conversations/{conversation}")
    expect(page.get_by_role("log", name="Transcript")).to_contain_text(word)
    found += serious_violations(page, "conversation")
    assert found == []


def test_the_widget_passes_axe(context: BrowserContext, omnichat: ServerProcess) -> None:
    """The demo page with the widget's panel open has no serious or critical axe finding, and
    loads without a 404 (the favicon)."""
    page = context.new_page()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{omnichat.base_url}/demo")
    page.get_by_role("button", name=re.compile("chat", re.I)).click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    assert serious_violations(page, "widget") == []
    assert missing == []
