"""The agents' conversation API in process: inbox, replies, notes, assignment."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.agents import call, reply, visitor_says, word
from tests.app_server import AppServer
from tests.servers import query
from tests.staff import Account, create_account
from tests.visitors import bearer, new_session, next_frame, visitor_socket


@pytest.fixture(scope="module")
def agent(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


@pytest.fixture(scope="module")
def agent2(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


def listing(app: AppServer, account: Account, **params: object) -> dict:
    response = call(app, account, "GET", "/api/v1/conversations", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def conversation(app: AppServer, account: Account, conversation_id: int) -> dict:
    response = call(app, account, "GET", f"/api/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["conversation"])


def audit_actions(app: AppServer, conversation_id: int) -> list[str]:
    rows = query(
        app,
        "SELECT action FROM audit WHERE target = ? ORDER BY id",
        (f"conversation:{conversation_id}",),
    )
    return [row["action"] for row in rows]


def test_list_shows_last_message_and_unread_until_read(app: AppServer, agent: Account) -> None:
    """An open conversation lists with its newest message and unread count; reading clears it."""
    topic = word()
    token, first = visitor_says(app, f"Hello about {topic}")
    found = listing(app, agent, q=topic)["conversations"]
    assert [c["id"] for c in found] == [first["conversation_id"]]
    item = found[0]
    assert item["status"] == "open" and item["last_message"]["text"] == f"Hello about {topic}"
    # The greeting is a system text: only the visitor's message is unread.
    assert item["unread"] == 1 and item["last_read_seq"] == 0
    read = call(app, agent, "POST", f"/api/v1/conversations/{item['id']}/read", json={})
    assert read.json() == {"read": {"conversation_id": item["id"], "last_read_seq": 2}}
    visitor_says(app, "anyone there?", token)
    again = conversation(app, agent, item["id"])
    assert again["unread"] == 1 and again["last_message"]["text"] == "anyone there?"


def test_pages_are_stable_and_cursors_opaque(app: AppServer, agent: Account) -> None:
    """Seven matches in pages of three come back once each, newest change first, then null."""
    topic = word()
    made = [visitor_says(app, f"{topic} #{n}")[1]["conversation_id"] for n in range(7)]
    pages, cursor = [], None
    while True:
        params = {"q": topic, "limit": 3, **({"before": cursor} if cursor else {})}
        body = listing(app, agent, **params)
        pages.append([c["id"] for c in body["conversations"]])
        cursor = body["next"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [cid for page in pages for cid in page] == list(reversed(made))
    bad = call(app, agent, "GET", "/api/v1/conversations", params={"before": "nope"})
    assert bad.status_code == 422 and "before" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "pending"}, "status"),
        ({"assignee": "someone"}, "assignee"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"q": "???"}, "q"),
        ({"limit": "²"}, "limit"),
        ({"assignee": "\uff11\uff12"}, "assignee"),  # fullwidth digits
        # Thousands of digits: int() refuses them (a 500 before one id parser served all).
        ({"limit": "9" * 5000}, "limit"),
        ({"assignee": "9" * 5000}, "assignee"),
        ({"before": "WyJ4IiwgOTk5OTk5OTk5OTk5OTk5OTk5OTk5XQ"}, "before"),
    ],
)
def test_bad_listing_parameters_are_named(
    app: AppServer, agent: Account, params: dict, field: str
) -> None:
    """Each invalid listing parameter answers 422 naming it."""
    response = call(app, agent, "GET", "/api/v1/conversations", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_field"
    assert response.json()["error"]["message"].startswith(field)


def test_filters_by_status_and_assignee(app: AppServer, owner: Account, agent: Account) -> None:
    """Status and assignee filters select exactly the matching conversations."""
    topic = word()
    mine = visitor_says(app, f"{topic} mine")[1]["conversation_id"]
    nobody = visitor_says(app, f"{topic} nobody")[1]["conversation_id"]
    closed = visitor_says(app, f"{topic} closed")[1]["conversation_id"]
    call(
        app,
        agent,
        "POST",
        f"/api/v1/conversations/{mine}/assign",
        json={"user_id": agent.user["id"]},
    )
    call(app, agent, "POST", f"/api/v1/conversations/{closed}/close")

    def ids(**params: object) -> set[int]:
        return {c["id"] for c in listing(app, agent, q=topic, **params)["conversations"]}

    assert ids() == {mine, nobody}  # default: open only
    assert ids(status="all") == {mine, nobody, closed}
    assert ids(status="closed") == {closed}
    assert ids(status="escalated") == set()
    assert ids(assignee="me") == {mine}
    assert ids(assignee=str(agent.user["id"])) == {mine}
    assert ids(assignee="none") == {nobody}
    assert {c["id"] for c in listing(app, owner, q=topic, assignee="me")["conversations"]} == set()


def test_search_covers_notes_and_treats_syntax_as_text(app: AppServer, agent: Account) -> None:
    """Agents find conversations by their private notes; FTS operators in the query are text."""
    topic = word()
    cid = visitor_says(app, "my order is late")[1]["conversation_id"]
    note = reply(app, agent, cid, f"Customer {topic} VIP, near or far", private=True)
    assert note.status_code == 201
    assert [c["id"] for c in listing(app, agent, q=f"{topic[:6]} vip")["conversations"]] == [cid]
    for tricky in (f'"{topic}" OR', f"{topic} NEAR(", f"{topic}*", f"({topic}", f"-{topic}:^"):
        assert [c["id"] for c in listing(app, agent, q=tricky)["conversations"]] == [cid]


def test_messages_page_with_notes_in_order(app: AppServer, agent: Account) -> None:
    """Agents read every message, notes included, oldest first, in pages with a `more` flag."""
    _, first = visitor_says(app, "one")
    cid = first["conversation_id"]
    reply(app, agent, cid, "a note", private=True)
    reply(app, agent, cid, "a reply")
    path = f"/api/v1/conversations/{cid}/messages"
    page = call(app, agent, "GET", path, params={"limit": 2}).json()
    assert [m["seq"] for m in page["messages"]] == [1, 2] and page["more"] is True
    rest = call(app, agent, "GET", path, params={"after_seq": 2}).json()
    assert [(m["text"], m["private"]) for m in rest["messages"]] == [
        ("a note", True),
        ("a reply", False),
    ]
    assert rest["more"] is False
    assert rest["messages"][0]["author"] == {"id": agent.user["id"], "name": agent.user["name"]}


def test_agent_client_id_is_idempotent(app: AppServer, agent: Account) -> None:
    """The same agent client_id stores one message; the visitor's client_id is a conflict."""
    _, first = visitor_says(app, "hi")
    cid = first["conversation_id"]
    one = reply(app, agent, cid, "Hello!", client_id="agent-1")
    two = reply(app, agent, cid, "Hello again!", client_id="agent-1")
    assert one.status_code == 201 and two.status_code == 200
    assert two.json()["message"] == one.json()["message"]
    taken = reply(app, agent, cid, "x", client_id=first["client_id"])
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "client_id_taken"
    assert conversation(app, agent, cid)["last_seq"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "   "}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({"text": "ok", "client_id": ""}, "client_id"),
        ({"text": "ok", "private": "yes"}, "private"),
    ],
)
def test_bad_messages_are_refused(app: AppServer, agent: Account, body: dict, field: str) -> None:
    """Blank or long text, an empty client id or a non-boolean `private` answer 422."""
    cid = visitor_says(app, "hi")[1]["conversation_id"]
    response = call(app, agent, "POST", f"/api/v1/conversations/{cid}/messages", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(field)


async def test_private_notes_never_reach_the_visitor(app: AppServer, agent: Account) -> None:
    """A note reaches no visitor path (live, replay, session, HTTP); the reply reaches them all."""
    session = new_session(app)
    token, first = visitor_says(app, "question", session["token"])
    cid = first["conversation_id"]
    async with visitor_socket(app, token, last_seq=first["seq"]) as (ws, _):
        assert reply(app, agent, cid, "SECRET note", private=True).status_code == 201
        assert reply(app, agent, cid, "public answer").status_code == 201
        live = await next_frame(ws, "message")
    assert live["message"]["text"] == "public answer"
    async with visitor_socket(app, token, last_seq=0) as (_, welcome):
        replayed = [m["text"] for m in welcome["messages"]]
    history = [m["text"] for m in new_session(app, token)["messages"]]
    fallback = app.http.get(
        "/api/v1/widget/messages", params={"after": 0}, headers=bearer(token)
    ).json()["messages"]
    for texts in (replayed, history, [m["text"] for m in fallback]):
        assert "public answer" in texts and "SECRET note" not in texts
    # The seq of the note is skipped for the visitor, never revealed.
    assert [m["seq"] for m in fallback] == [1, 2, 4]


async def test_close_and_reopen_tell_the_visitor(app: AppServer, agent: Account) -> None:
    """Closing sends the visitor a system message and the closed status; reopening likewise."""
    token, first = visitor_says(app, "thanks, bye")
    cid = first["conversation_id"]
    async with visitor_socket(app, token, last_seq=first["seq"]) as (ws, _):
        closed = call(app, agent, "POST", f"/api/v1/conversations/{cid}/close")
        assert closed.status_code == 200 and closed.json()["conversation"]["status"] == "closed"
        frames = [await next_frame(ws), await next_frame(ws)]
        by_type = {frame["type"]: frame for frame in frames}
        assert by_type["conversation"]["conversation"]["status"] == "closed"
        assert by_type["message"]["message"]["text"] == (
            "This conversation was closed. Send a message any time to start again."
        )
        # Closing again changes nothing and says nothing.
        assert call(app, agent, "POST", f"/api/v1/conversations/{cid}/close").status_code == 200
        refused = reply(app, agent, cid, "one more thing")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "conversation_closed"
        assert reply(app, agent, cid, "closed fine", private=True).status_code == 201
        reopened = call(app, agent, "POST", f"/api/v1/conversations/{cid}/reopen")
        assert reopened.json()["conversation"]["status"] == "open"
        frames = [await next_frame(ws), await next_frame(ws)]
        assert {frame["type"] for frame in frames} == {"conversation", "message"}
    assert audit_actions(app, cid) == ["conversation.closed", "conversation.reopened"]


def test_assignment_rule(app: AppServer, owner: Account, agent: Account, agent2: Account) -> None:
    """Agents claim unassigned conversations and release their own; admins assign anyone."""
    cid = visitor_says(app, "help")[1]["conversation_id"]
    path = f"/api/v1/conversations/{cid}/assign"

    def assign(account: Account, user_id: int | None) -> httpx.Response:
        return call(app, account, "POST", path, json={"user_id": user_id})

    claimed = assign(agent, agent.user["id"])
    assert claimed.status_code == 200
    assert claimed.json()["conversation"]["assignee"] == {
        "id": agent.user["id"],
        "name": agent.user["name"],
    }
    taken = assign(agent2, agent2.user["id"])
    assert taken.status_code == 403 and taken.json()["error"]["code"] == "assigned_to_other"
    assert assign(agent2, None).status_code == 403
    assert assign(agent, agent2.user["id"]).status_code == 403
    assert assign(agent, None).json()["conversation"]["assignee"] is None
    given = assign(owner, agent2.user["id"])
    assert given.json()["conversation"]["assignee"]["id"] == agent2.user["id"]
    assert assign(owner, agent.user["id"]).status_code == 200
    assert audit_actions(app, cid) == ["conversation.assigned"] * 4
    # The same assignment again is a no-op, audited once only.
    assert assign(owner, agent.user["id"]).status_code == 200
    assert audit_actions(app, cid) == ["conversation.assigned"] * 4


def test_assignee_must_be_an_enabled_teammate(app: AppServer, owner: Account) -> None:
    """A missing, disabled or foreign user id, or a malformed one, answers 422 naming user_id."""
    cid = visitor_says(app, "help")[1]["conversation_id"]
    disabled = create_account(app, owner, "agent")
    patched = call(
        app, owner, "PATCH", f"/api/v1/users/{disabled.user['id']}", json={"disabled": True}
    )
    assert patched.status_code == 200, patched.text
    for user_id in (disabled.user["id"], 10**9, "1", True, 0):
        response = call(
            app, owner, "POST", f"/api/v1/conversations/{cid}/assign", json={"user_id": user_id}
        )
        assert response.status_code == 422, user_id
        assert response.json()["error"]["message"].startswith("user_id")
    missing = call(app, owner, "POST", f"/api/v1/conversations/{cid}/assign", json={})
    assert missing.status_code == 422


def test_unknown_and_huge_ids_are_404(app: AppServer, agent: Account) -> None:
    """Ids that do not exist, even past 64 bits, answer 404 on every conversation endpoint."""
    for cid in (10**9, 10**30):
        for method, suffix in (
            ("GET", ""),
            ("GET", "/messages"),
            ("POST", "/messages"),
            ("POST", "/assign"),
            ("POST", "/close"),
            ("POST", "/reopen"),
            ("POST", "/read"),
        ):
            body = {"text": "x", "client_id": uuid.uuid4().hex, "user_id": None}
            response = call(
                app,
                agent,
                method,
                f"/api/v1/conversations/{cid}{suffix}",
                **({"json": body} if method == "POST" else {}),
            )
            assert response.status_code == 404, (method, suffix, response.text)


def test_sign_in_is_required(app: AppServer) -> None:
    """Without a valid access token every agent endpoint answers 401."""
    for method, path in (
        ("GET", "/api/v1/conversations"),
        ("GET", "/api/v1/conversations/1"),
        ("POST", "/api/v1/conversations/1/messages"),
        ("POST", "/api/v1/conversations/1/close"),
        ("GET", "/api/v1/followups"),
        ("POST", "/api/v1/followups/1/view"),
    ):
        for headers in ({}, bearer("not-a-token")):
            response = app.http.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] in ("not_authenticated",)


def test_every_role_works_conversations(app: AppServer, owner: Account, agent: Account) -> None:
    """Agents, admins and owners can all list, read, reply, note, close, reopen and mark read."""
    admin = create_account(app, owner, "admin")
    for account in (agent, admin, owner):
        cid = visitor_says(app, "hello")[1]["conversation_id"]
        base = f"/api/v1/conversations/{cid}"
        assert listing(app, account)["conversations"] is not None
        assert call(app, account, "GET", base).status_code == 200
        assert call(app, account, "GET", base + "/messages").status_code == 200
        assert reply(app, account, cid, "hi").status_code == 201
        assert reply(app, account, cid, "note", private=True).status_code == 201
        assert call(app, account, "POST", base + "/read", json={"seq": 1}).status_code == 200
        me = {"user_id": account.user["id"]}
        assert call(app, account, "POST", base + "/assign", json=me).status_code == 200
        assert call(app, account, "POST", base + "/close").status_code == 200
        assert call(app, account, "POST", base + "/reopen").status_code == 200
