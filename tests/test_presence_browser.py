"""The availability switch and the assignment actions in the admin page, in a real browser
against a real server (its own, in a tenant of its own, so nobody else is online there)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.agents import site_key
from tests.servers import ServerProcess
from tests.staff import PASSWORD, create_user_cli, login
from tests.timing import eventually
from tests.visitors import bearer, new_session


@pytest.fixture
def pages(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Fresh browser contexts for the test (a phone-sized one on request)."""
    contexts = []

    def new(width: int = 1280, height: int = 720) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        return context.new_page()

    yield new
    for context in contexts:
        context.close()


def sign_in(page: Page, server: ServerProcess, email: str) -> None:
    page.goto(server.base_url + "/admin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def staff(server: ServerProcess, role: str, tenant: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    create_user_cli(server, email, role, tenant)
    return email


def widget_online(server: ServerProcess, key: str) -> bool:
    response = server.http.get("/api/v1/widget/status", params={"site_key": key})
    assert response.status_code == 200, response.text
    return bool(response.json()["online"])


def test_availability_switch_changes_the_widget_status(
    pages: Callable[[], Page], server: ServerProcess
) -> None:
    """The top bar's switch sets the agent away and online again, and the widget's status
    follows it; closing the last tab leaves nobody online."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    email = staff(server, "agent", tenant)
    key = site_key(server, tenant)
    assert widget_online(server, key) is False
    page = pages()
    sign_in(page, server, email)
    switch = page.get_by_role("switch", name="Available for chats")
    expect(switch).to_have_attribute("aria-checked", "true")
    eventually(lambda: widget_online(server, key), what="the widget to see staff online")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_have_text("Away")
    assert widget_online(server, key) is False
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    assert widget_online(server, key) is True
    page.context.close()
    eventually(lambda: not widget_online(server, key), what="nobody online after the tab closed")


def test_agents_are_offered_only_the_assignments_the_server_allows(
    pages: Callable[[], Page], server: ServerProcess
) -> None:
    """An agent sees Claim only on unassigned conversations and no assign menu; an admin's
    assign menu shows who is online, live."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    agent_email, admin_email = staff(server, "agent", tenant), staff(server, "admin", tenant)
    admin = login(server, admin_email, PASSWORD)
    key = site_key(server, tenant)

    def conversation() -> int:
        token = new_session(server, site_key=key)["token"]
        sent = server.http.post(
            "/api/v1/widget/messages",
            json={"client_id": uuid.uuid4().hex, "text": "hello"},
            headers=bearer(token),
        )
        return int(sent.json()["message"]["conversation_id"])

    theirs, free = conversation(), conversation()
    server.http.post(
        f"/api/v1/conversations/{theirs}/assign",
        json={"user_id": admin.user["id"]},
        headers=admin.headers,
    ).raise_for_status()

    agent_page = pages()
    sign_in(agent_page, server, agent_email)
    agent_page.goto(f"{server.base_url}/admin/conversations/{theirs}")
    expect(agent_page.get_by_role("button", name="Close", exact=True)).to_be_visible()
    expect(agent_page.get_by_role("button", name="Claim")).to_be_hidden()
    expect(agent_page.get_by_role("button", name="Release")).to_be_hidden()
    expect(agent_page.get_by_label("Assign to")).to_be_hidden()
    agent_page.goto(f"{server.base_url}/admin/conversations/{free}")
    agent_page.get_by_role("button", name="Claim").click()
    expect(agent_page.get_by_role("button", name="Release")).to_be_visible()
    expect(agent_page.get_by_role("button", name="Claim")).to_be_hidden()

    admin_page = pages()
    sign_in(admin_page, server, admin_email)
    admin_page.goto(f"{server.base_url}/admin/conversations/{free}")
    menu = admin_page.get_by_label("Assign to")
    agent_option = menu.locator("option").filter(has_text=agent_email.split("@")[0])
    expect(agent_option).to_have_text(f"{agent_email.split('@')[0]} (online)")
    agent_page.get_by_role("switch", name="Available for chats").click()
    expect(agent_option).to_have_text(f"{agent_email.split('@')[0]} (away)")
    # An admin may take a colleague's conversation: Claim is offered to them.
    expect(admin_page.get_by_role("button", name="Claim")).to_be_visible()
