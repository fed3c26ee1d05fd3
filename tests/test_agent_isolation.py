"""Tenant isolation on the agent side: another tenant's ids are 404, its events never arrive."""

from __future__ import annotations

import uuid

import pytest

from tests.agents import agent_socket, call, quiet, reply, site_key, tenant_slug, visitor_says, word
from tests.app_server import AppServer
from tests.staff import Account, other_tenant_account, unique_ip
from tests.visitors import bearer, new_session, next_frame, send, visitor_socket


@pytest.fixture(scope="module")
def stranger(app: AppServer) -> Account:
    """The admin of a second tenant."""
    return other_tenant_account(app, "admin")


@pytest.fixture(scope="module")
def stranger_key(app: AppServer, stranger: Account) -> str:
    return site_key(app, tenant_slug(app, stranger))


def followup_of(app: AppServer, key: str) -> int:
    address = {"X-Forwarded-For": unique_ip()}
    token = new_session(app, site_key=key, **address)["token"]
    response = app.http.post(
        "/api/v1/widget/followup",
        json={"name": "B", "email": "b@example.com", "phone": "", "message": "theirs"},
        headers={**bearer(token), **address},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["followup"]["id"])


def test_other_tenants_ids_are_404_everywhere(
    app: AppServer, owner: Account, stranger: Account, stranger_key: str
) -> None:
    """Every conversation and follow-up endpoint answers 404 for the other tenant's ids."""
    theirs = visitor_says(app, "their conversation", key=stranger_key)[1]["conversation_id"]
    followup = followup_of(app, stranger_key)
    body = {"text": "x", "client_id": uuid.uuid4().hex, "user_id": owner.user["id"], "seq": 1}
    for method, path in (
        ("GET", f"/api/v1/conversations/{theirs}"),
        ("GET", f"/api/v1/conversations/{theirs}/messages"),
        ("POST", f"/api/v1/conversations/{theirs}/messages"),
        ("POST", f"/api/v1/conversations/{theirs}/assign"),
        ("POST", f"/api/v1/conversations/{theirs}/close"),
        ("POST", f"/api/v1/conversations/{theirs}/reopen"),
        ("POST", f"/api/v1/conversations/{theirs}/read"),
        ("POST", f"/api/v1/followups/{followup}/view"),
        ("POST", f"/api/v1/followups/{followup}/archive"),
    ):
        kwargs = {"json": body} if method == "POST" else {}
        response = call(app, owner, method, path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
    # Nothing changed for them.
    mine = call(app, stranger, "GET", f"/api/v1/conversations/{theirs}").json()
    assert mine["conversation"]["status"] == "open" and mine["conversation"]["last_seq"] == 2
    viewed = call(app, stranger, "GET", "/api/v1/followups", params={"status": "new"})
    assert followup in [f["id"] for f in viewed.json()["followups"]]


def test_lists_and_search_stay_in_the_tenant(
    app: AppServer, owner: Account, stranger: Account, stranger_key: str
) -> None:
    """Neither tenant's listing, search or follow-ups show the other's records."""
    topic = word()
    ours = visitor_says(app, f"ours {topic}")[1]["conversation_id"]
    theirs = visitor_says(app, f"theirs {topic}", key=stranger_key)[1]["conversation_id"]
    their_followup = followup_of(app, stranger_key)
    for account, expected in ((owner, ours), (stranger, theirs)):
        found = call(
            app, account, "GET", "/api/v1/conversations", params={"q": topic, "status": "all"}
        ).json()["conversations"]
        assert [c["id"] for c in found] == [expected]
    everything = call(
        app, owner, "GET", "/api/v1/followups", params={"status": "all", "limit": 200}
    ).json()["followups"]
    assert their_followup not in [f["id"] for f in everything]


def test_assigning_to_another_tenants_user_is_refused(
    app: AppServer, owner: Account, stranger: Account
) -> None:
    """A user id from another tenant is not an assignee (422), and says nothing about it."""
    ours = visitor_says(app, "assign me")[1]["conversation_id"]
    response = call(
        app,
        owner,
        "POST",
        f"/api/v1/conversations/{ours}/assign",
        json={"user_id": stranger.user["id"]},
    )
    assert response.status_code == 422
    missing = call(
        app, owner, "POST", f"/api/v1/conversations/{ours}/assign", json={"user_id": 10**9}
    )
    assert missing.json()["error"] == response.json()["error"]


async def test_events_and_typing_never_cross_tenants(
    app: AppServer, owner: Account, stranger: Account, stranger_key: str
) -> None:
    """A tenant's socket hears none of the other tenant's events or typing, either way."""
    their_token, their_first = visitor_says(app, "hello", key=stranger_key)
    their_cid = their_first["conversation_id"]
    our_token, our_first = visitor_says(app, "hello")
    our_cid = our_first["conversation_id"]
    async with (
        agent_socket(app, owner.access_token) as (ours, _),
        agent_socket(app, stranger.access_token) as (theirs, their_welcome),
        visitor_socket(app, our_token, our_first["seq"]) as (our_visitor, _),
    ):
        # Their activity: a message, a reply, their visitor typing.
        visitor_says(app, "only for them", their_token)
        reply(app, stranger, their_cid, "their reply")
        async with visitor_socket(app, their_token, 99) as (their_visitor, _):
            await send(their_visitor, {"type": "typing", "on": True})
            assert (await next_frame(theirs, "typing"))["conversation_id"] == their_cid
        # Their agent tries to type into our conversation: refused, our visitor hears nothing.
        await send(theirs, {"type": "typing", "conversation_id": our_cid, "on": True})
        assert (await next_frame(theirs, "error"))["code"] == "not_found"
        leaked = await quiet(ours)
        assert leaked == []
        assert [f for f in await quiet(our_visitor) if f["type"] == "typing"] == []
        # Our activity reaches us, not them.
        visitor_says(app, "only for us", our_token)
        event = await next_frame(ours, "event")
        assert event["data"]["conversation"]["id"] == our_cid
        assert [f for f in await quiet(theirs) if f["type"] == "event"] == []
    # Event ids are per-tenant sequences: theirs started from their own first event.
    async with agent_socket(app, stranger.access_token, 0) as (theirs, welcome):
        assert welcome["last_event_id"] >= their_welcome["last_event_id"]
        replayed = [await next_frame(theirs, "event") for _ in range(welcome["last_event_id"])]
        assert replayed[0]["id"] == 1
        for frame in replayed:
            conversation = frame["data"].get("conversation") or {}
            assert conversation.get("id") != our_cid
