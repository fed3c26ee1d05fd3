"""Admin page details staff hit every day, in a real browser against a real server: links in
messages, focus after actions, the focus ring's contrast, the role confirmation, the business-hours
editor and the settings' groups, and the audit log in words."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.staff import create_user_cli
from tests.test_admin_browser import expect_inbox, owner_token, sign_in, visitor, visitor_says
from tests.visitors import bearer


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, with no patience or escalation messages mid-test."""
    data_dir = tmp_path_factory.mktemp("ui") / "data"
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
def page(browser: Browser, omnichat: ServerProcess) -> Iterator[Page]:
    """A signed-in owner's page at 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    sign_in(opened, omnichat, OWNER_EMAIL, OWNER_PASSWORD)
    expect_inbox(opened)
    yield opened
    context.close()


def luminance(rgb: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    def parse(color: str) -> tuple[float, ...]:
        return tuple(float(v) for v in re.findall(r"[\d.]+", color)[:3])

    light, dark = sorted((luminance(parse(a)), luminance(parse(b))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_links_in_messages_open_safely_in_a_new_tab(page: Page, omnichat: ServerProcess) -> None:
    """An http(s) URL in a message is a link (new tab, no referrer); other schemes stay text."""
    word = "link" + uuid.uuid4().hex[:8]
    conversation = visitor_says(
        omnichat,
        visitor(omnichat, "Lina Link"),
        f"{word} see https://example.org/a?b=1. or javascript:alert(1) <b>x</b>",
    )
    page.goto(f"{omnichat.base_url}/admin/conversations/{conversation}")
    transcript = page.get_by_role("log", name="Transcript")
    expect(transcript).to_contain_text(f"{word} see https://example.org/a?b=1. or javascript")
    link = transcript.get_by_role("link", name="https://example.org/a?b=1")
    expect(link).to_have_attribute("href", "https://example.org/a?b=1")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(transcript.get_by_role("link")).to_have_count(1)
    assert page.locator(".transcript b").count() == 0


def test_focus_stays_on_a_sensible_control_after_actions(
    page: Page, omnichat: ServerProcess
) -> None:
    """Claim, Close and Reopen hide the button pressed; the focus moves to its counterpart."""
    conversation = visitor_says(omnichat, visitor(omnichat, "Fay Focus"), "focus please")
    page.goto(f"{omnichat.base_url}/admin/conversations/{conversation}")
    # Loaded and live: a click before then can land on a pane that is about to be redrawn.
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(page.get_by_role("heading", name="Fay Focus", level=2)).to_be_visible()
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("button", name="Release")).to_be_focused()
    page.get_by_role("button", name="Close", exact=True).click()
    page.get_by_role("button", name="Close conversation").click()
    expect(page.get_by_role("button", name="Reopen")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Close", exact=True)).to_be_focused()


def test_the_focus_ring_has_three_to_one_contrast(page: Page) -> None:
    """The focus ring is opaque and contrasts at least 3:1 with the surface and the top bar."""
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand, on the dark top bar
    on_bar = page.evaluate(
        "(() => { const el = document.activeElement; const s = getComputedStyle(el);"
        " return [s.outlineStyle, s.outlineColor,"
        " getComputedStyle(document.querySelector('.topbar')).backgroundColor]; })()"
    )
    assert on_bar[0] == "solid"
    assert contrast(on_bar[1], on_bar[2]) >= 3
    page.get_by_role("searchbox", name="Search conversations").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    on_surface = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineColor]; })()"
    )
    assert on_surface[0] == "solid"
    for background in ("rgb(255, 255, 255)", "rgb(246, 247, 249)", "rgb(231, 240, 251)"):
        assert contrast(on_surface[1], background) >= 3


def test_a_role_change_asks_first_and_cancel_puts_it_back(
    page: Page, omnichat: ServerProcess
) -> None:
    """Choosing a role asks for confirmation; Cancel keeps the old role, Change role applies it
    and the focus returns to the role control."""
    email = f"role-{uuid.uuid4().hex[:8]}@example.com"
    create_user_cli(omnichat, email, "agent", "default", "role passphrase one")
    page.get_by_role("link", name="Users").click()
    role = page.get_by_role("row").filter(has_text=email).get_by_role("combobox")
    role.select_option("admin")
    page.get_by_role("button", name="Cancel").click()
    expect(role).to_have_value("agent")
    expect(role).to_be_focused()
    headers = bearer(owner_token(omnichat))
    users = omnichat.http.get("/api/v1/users", headers=headers).json()["users"]
    assert next(u["role"] for u in users if u["email"] == email) == "agent"
    role.select_option("admin")
    expect(page.get_by_role("group", name=re.compile("an admin"))).to_be_visible()
    page.get_by_role("button", name="Change role").click()
    expect(role).to_have_value("admin")
    expect(role).to_be_focused()
    users = omnichat.http.get("/api/v1/users", headers=headers).json()["users"]
    assert next(u["role"] for u in users if u["email"] == email) == "admin"


def test_business_hours_are_set_with_a_day_and_time_editor(
    page: Page, omnichat: ServerProcess
) -> None:
    """The settings are grouped under legends; the hours editor saves the API's JSON."""
    page.get_by_role("link", name="Sites").click()
    page.get_by_role("button", name="Edit settings").first.click()
    for legend in ("Basics", "Widget texts", "Escalation timing", "Channels", "Alerts"):
        expect(page.get_by_role("group", name=legend).first).to_be_visible()
    page.get_by_label("Always open (no business hours)").uncheck()
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_label("Monday opens at").fill("08:30")
    page.get_by_label("Monday closes at").fill("00:00")
    page.get_by_role("group", name="Friday").get_by_role("checkbox").uncheck()
    page.get_by_label("Tuesday opens at").fill("18:00")
    page.get_by_label("Tuesday closes at").fill("09:00")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Tuesday: opening must come before closing")).to_be_visible()
    page.get_by_label("Tuesday opens at").fill("09:00")
    page.get_by_label("Tuesday closes at").fill("17:00")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    headers = bearer(owner_token(omnichat))
    site = omnichat.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    assert site["business_hours"] == {
        "timezone": "Europe/Paris",
        "days": {
            "mon": [["08:30", "24:00"]],
            "tue": [["09:00", "17:00"]],
            "wed": [["09:00", "17:00"]],
            "thu": [["09:00", "17:00"]],
        },
    }
    omnichat.http.patch(
        f"/api/v1/sites/{site['id']}", json={"business_hours": None}, headers=headers
    ).raise_for_status()


def test_the_audit_log_reads_in_words_and_filters(page: Page, omnichat: ServerProcess) -> None:
    """Actions and people show as names, not codes and ids, and the filter narrows the rows."""
    page.get_by_role("link", name="Audit log").click()
    table = page.get_by_role("region", name="Audit entries")
    expect(table.get_by_role("cell", name="Signed in").first).to_be_visible()
    expect(table).not_to_contain_text("auth.login")
    page.get_by_label("Action").select_option(label="Signed in")
    expect(page.get_by_role("status").filter(has_text="entries loaded match")).to_be_visible()
    actions = table.locator("tbody tr td:nth-child(3)")
    assert set(actions.all_text_contents()) == {"Signed in"}
    expect(table.locator("tbody tr td:nth-child(2)").first).to_have_text("Owner")
