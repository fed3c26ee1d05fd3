"""The Reports screen in a real browser against a real server: presets move the range, charts
render with their table alternative, nothing trips the CSP, a phone gets no sideways scroll,
and axe finds nothing serious."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_accessibility_browser import SIZES, serious_violations
from tests.test_admin_browser import owner_token, sign_in, visitor, visitor_says
from tests.visitors import bearer


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own with one answered conversation today."""
    data_dir = tmp_path_factory.mktemp("reports") / "data"
    env = server_env(data_dir, OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP="0")
    process = ServerProcess(data_dir, env).start()
    headers = bearer(owner_token(process))
    conversation = visitor_says(process, visitor(process, "Rita"), "hello reports")
    process.http.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"client_id": "r1", "text": "hi", "private": False},
        headers=headers,
    ).raise_for_status()
    yield process
    process.stop()


def open_reports(page: Page, server: ServerProcess) -> None:
    sign_in(page, server, OWNER_EMAIL, OWNER_PASSWORD, path="/admin/reports")
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Showing")).to_be_visible()


def dates(page: Page) -> tuple[date, date]:
    return (
        date.fromisoformat(page.get_by_label("From", exact=True).input_value()),
        date.fromisoformat(page.get_by_label("To", exact=True).input_value()),
    )


def test_presets_charts_and_tables(browser: Browser, omnichat: ServerProcess) -> None:
    """Presets change the range, figures and charts render with a table each, and the page's
    CSP (no bypass here) reports no violation."""
    context = browser.new_context(viewport=SIZES["desktop"])
    page = context.new_page()
    page.add_init_script(
        "window.cspViolations = [];"
        " document.addEventListener('securitypolicyviolation',"
        " (e) => window.cspViolations.push(e.violatedDirective));"
    )
    open_reports(page, omnichat)
    first, last = dates(page)
    assert (last - first).days == 6
    expect(page.locator(".report-figure").filter(has_text="Conversations")).to_contain_text("1")
    page.get_by_label("Range").select_option(label="Today")
    expect(page.get_by_label("From", exact=True)).to_have_value(
        page.get_by_label("To", exact=True).input_value()
    )
    page.get_by_label("Range").select_option(label="Last 30 days")
    first, last = dates(page)
    assert (last - first).days == 29
    expect(page.get_by_role("img", name="Conversations per day", exact=False)).to_be_visible()
    assert page.get_by_role("img").count() >= 4
    # The 30 days' figures drawn: a table opened before they arrive is redrawn closed.
    page.wait_for_load_state("networkidle")
    page.get_by_text("Conversations per day: show as table").click()
    table = page.get_by_role("table", name="Conversations per day")
    expect(table).to_be_visible()
    expect(table.get_by_role("cell", name="1", exact=True)).to_have_count(1)
    expect(page.get_by_role("table", name="Figures per agent")).to_contain_text("Owner")
    page.get_by_label("Range").select_option(label="Custom dates")
    page.get_by_label("From", exact=True).fill("2020-01-01")
    page.get_by_label("From", exact=True).dispatch_event("change")
    expect(page.get_by_role("alert").filter(has_text="at most 366 days")).to_be_visible()
    assert page.evaluate("window.cspViolations") == []
    context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_reports_fit_a_phone_and_pass_axe(
    browser: Browser, omnichat: ServerProcess, size: str
) -> None:
    """At 390 px nothing scrolls sideways; at both sizes axe finds no serious issue, also with
    a table alternative open."""
    context = browser.new_context(viewport=SIZES[size], bypass_csp=True)
    page = context.new_page()
    open_reports(page, omnichat)
    page.get_by_text("Messages per day: show as table").click()
    page.locator("summary").filter(has_text="Busiest hours").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    assert serious_violations(page, f"reports {size}") == []
    context.close()
