"""The landing view and search: everyone not closed, waited-longest first; people found."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from omnichat import sites
from omnichat.chat import inbound, inbox
from omnichat.chat.inbox import Filters
from omnichat.storage.db import Database
from omnichat.twilio import incoming
from tests.agents import call, reply, tenant_slug, visitor_says, word
from tests.app_server import AppServer
from tests.escalations import make_site, parse_time
from tests.staff import Account, create_account, other_tenant_account, unique_ip
from tests.timing import UNIT, eventually
from tests.visitors import bearer, new_session


@pytest.fixture(scope="module")
def agent(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


def listing(app: AppServer, account: Account, **params: object) -> dict[str, Any]:
    response = call(app, account, "GET", "/api/v1/conversations", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def found_ids(app: AppServer, account: Account, query: str) -> list[int]:
    return [c["id"] for c in listing(app, account, status="all", q=query)["conversations"]]


def active_order(app: AppServer, account: Account, mine: list[int]) -> list[dict[str, Any]]:
    """This test's conversations as the active view lists them (other tests' rows skipped)."""
    rows = listing(app, account, status="active", limit=200)["conversations"]
    return [row for row in rows if row["id"] in mine]


def test_active_view_lists_escalated_and_sorts_by_longest_wait(
    app: AppServer, owner: Account, agent: Account
) -> None:
    """Escalated chats stay in the active view, which orders by who waited longest: automatic
    messages neither reorder it, reset waiting_since, nor become the row's preview."""
    quick = make_site(app, owner, patience_seconds=1, escalate_seconds=2)
    topic = word()
    # B waits first on the quiet default site; A waits after, on a site that escalates.
    _, b = visitor_says(app, f"first waiting {topic}")
    _, a = visitor_says(app, f"second waiting {topic}", key=quick["site_key"])
    _, c = visitor_says(app, f"answered {topic}")
    assert reply(app, agent, c["conversation_id"], "Hello, how can I help?").status_code == 201
    mine = [b["conversation_id"], a["conversation_id"], c["conversation_id"]]

    def escalated() -> dict[str, Any] | None:
        rows = {row["id"]: row for row in active_order(app, agent, mine)}
        row = rows.get(a["conversation_id"])
        return row if row and row["status"] == "escalated" else None

    a_row = eventually(escalated, timeout=10 * UNIT, what="A escalated in the active view")
    rows = active_order(app, agent, mine)
    assert [row["id"] for row in rows] == mine
    # System texts (patience, escalation) came after A's message, yet it still waits since it.
    assert parse_time(a_row["waiting_since"]) == parse_time(a["created_at"])
    assert a_row["updated_at"] > rows[0]["updated_at"]
    assert a_row["last_message"]["text"] == f"second waiting {topic}"
    assert rows[2]["waiting_since"] is None
    # The default view is still status=open, without the escalated one.
    open_ids = [row["id"] for row in listing(app, agent, limit=200)["conversations"]]
    assert a["conversation_id"] not in open_ids and b["conversation_id"] in open_ids


def test_active_view_pages_by_cursor_in_the_same_order(app: AppServer, agent: Account) -> None:
    """Pages of one row, followed by cursor, list the active view once each, in order."""
    for _ in range(3):
        visitor_says(app, f"paging {word()}")
    whole = [row["id"] for row in listing(app, agent, status="active", limit=200)["conversations"]]
    paged: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"status": "active", "limit": 1}
        if cursor:
            params["before"] = cursor
        page = listing(app, agent, **params)
        paged += [row["id"] for row in page["conversations"]]
        cursor = page["next"]
        if not cursor:
            break
    assert paged == whole
    # A cursor of another view is refused, naming the field.
    other = listing(app, agent, status="all", limit=1)["next"]
    response = call(
        app, agent, "GET", "/api/v1/conversations", params={"status": "active", "before": other}
    )
    assert response.status_code == 422 and "before" in response.json()["error"]["message"]


def identified(app: AppServer, name: str, email: str | None = None) -> int:
    """A visitor who told the widget their name (and email), then wrote; their conversation."""
    address = {"X-Forwarded-For": unique_ip()}
    token = new_session(app, **address)["token"]
    response = app.http.post(
        "/api/v1/widget/identify",
        json={"name": name, "email": email},
        headers={**bearer(token), **address},
    )
    assert response.status_code == 200, response.text
    _, message = visitor_says(app, "hello there", token=token)
    return int(message["conversation_id"])


def test_search_finds_people_by_name_and_email(app: AppServer, agent: Account) -> None:
    """Name prefixes (accents ignored) and a whole email find the visitor's conversation."""
    surname = "Lop" + uuid.uuid4().hex[:6]
    email = f"maria.{surname.lower()}@example.org"
    found = identified(app, f"María {surname}", email)
    assert found in found_ids(app, agent, surname[:5])
    assert found in found_ids(app, agent, "maria " + surname[:4])
    assert found in found_ids(app, agent, email)
    assert found not in found_ids(app, agent, surname + "zzz")


async def test_search_finds_a_texting_contact_by_phone(database: Database) -> None:
    """An SMS contact's number, typed nationally, internationally or in part, finds them."""
    site = await sites.site_by_id(database, 1)
    assert site is not None
    number = f"+44161496{uuid.uuid4().int % 10000:04d}"
    contact_id = await incoming.contact(database, site, "sms", number, None)
    stored = await inbound.receive(database, site, contact_id, "sms", "hi", uuid.uuid4().hex)
    local = "0" + number[3:6] + " " + number[6:9] + " " + number[9:]
    for typed in (local, "+44 " + number[3:], number[-7:]):
        items, _ = await inbox.page(database, 1, 1, Filters("all", None, typed), None, 50)
        assert stored.conversation.id in [item.conversation.id for item in items], typed


def test_search_finds_followup_text_and_contact(app: AppServer, agent: Account) -> None:
    """What a visitor wrote in the follow-up form (text, email, phone) finds the conversation."""
    topic = word()
    token, message = visitor_says(app, "is anyone there?")
    response = app.http.post(
        "/api/v1/widget/followup",
        json={
            "name": "Jo",
            "email": f"{topic}@example.net",
            "phone": "+14155550142",
            "message": f"please call about {topic}kneecap",
        },
        headers={**bearer(token), "X-Forwarded-For": unique_ip()},
    )
    assert response.status_code == 201, response.text
    conversation_id = message["conversation_id"]
    assert conversation_id in found_ids(app, agent, f"{topic}knee")
    assert conversation_id in found_ids(app, agent, f"{topic}@example.net")
    assert conversation_id in found_ids(app, agent, "(415) 555-0142")


@pytest.mark.parametrize(
    "typed", ['"', "NEAR(a b)", "a OR b", "name:x", "^start", "a*", "-x", "(((", "'; DROP"]
)
def test_search_syntax_in_input_is_harmless(app: AppServer, agent: Account, typed: str) -> None:
    """FTS5 operators and quotes typed into search answer 200 or a 422 naming q, never a 500."""
    response = call(
        app, agent, "GET", "/api/v1/conversations", params={"status": "all", "q": typed}
    )
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["error"]["message"].startswith("q:")


def test_people_search_stays_in_the_tenant(app: AppServer, agent: Account) -> None:
    """Another tenant's agent searching a visitor's name finds nothing of this tenant."""
    surname = "Zed" + uuid.uuid4().hex[:6]
    found = identified(app, f"Ana {surname}")
    assert found in found_ids(app, agent, surname)
    stranger = other_tenant_account(app, "agent")
    assert tenant_slug(app, stranger) != tenant_slug(app, agent)
    assert found_ids(app, stranger, surname) == []
