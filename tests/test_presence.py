"""Availability, presence, auto-assignment and the widget's status, over the real app.

Each test works in a tenant of its own: who is online is per tenant, and the shared app's
default tenant has other tests' sockets coming and going.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.agents import agent_socket, call, frames_until, quiet, site_key, tenant_slug
from tests.app_server import AppServer
from tests.servers import Socket
from tests.staff import Account, create_account, other_tenant_account, unique_ip
from tests.timing import eventually_async
from tests.visitors import bearer, new_session, send


@dataclass
class Team:
    admin: Account
    site_id: int
    key: str


@pytest.fixture
def team(app: AppServer) -> Team:
    """An admin of a fresh tenant and that tenant's site (auto-assign off, as by default)."""
    admin = other_tenant_account(app, "admin")
    key = site_key(app, tenant_slug(app, admin))
    site = call(app, admin, "GET", "/api/v1/sites").json()["sites"][0]
    return Team(admin, site["id"], key)


def me(app: AppServer, account: Account) -> dict[str, Any]:
    return dict(call(app, account, "GET", "/api/v1/auth/me").json()["user"])


def set_availability(app: AppServer, account: Account, value: Any) -> httpx.Response:
    return call(app, account, "PATCH", "/api/v1/auth/me", json={"availability": value})


def widget_status(app: AppServer, key: str, **headers: str) -> httpx.Response:
    return app.http.get("/api/v1/widget/status", params={"site_key": key}, headers=headers)


def is_online(app: AppServer, key: str) -> bool:
    response = widget_status(app, key)
    assert response.status_code == 200, response.text
    return bool(response.json()["online"])


def configure(app: AppServer, team: Team, **fields: Any) -> dict[str, Any]:
    response = call(app, team.admin, "PATCH", f"/api/v1/sites/{team.site_id}", json=fields)
    assert response.status_code == 200, response.text
    return dict(response.json()["site"])


def new_conversation(app: AppServer, key: str, token: str | None = None) -> tuple[str, int]:
    """A visitor of site `key` writes (a new visitor unless `token`): their token and
    conversation id."""
    address = {"X-Forwarded-For": unique_ip()}
    if token is None:
        token = new_session(app, site_key=key, **address)["token"]
    sent = app.http.post(
        "/api/v1/widget/messages",
        json={"client_id": unique_ip(), "text": "hello"},
        headers={**bearer(token), **address},
    )
    assert sent.status_code in (200, 201), sent.text
    return token, int(sent.json()["message"]["conversation_id"])


def assignee(app: AppServer, account: Account, conversation_id: int) -> int | None:
    found = call(app, account, "GET", f"/api/v1/conversations/{conversation_id}").json()
    who = found["conversation"]["assignee"]
    return None if who is None else int(who["id"])


@contextlib.asynccontextmanager
async def online(app: AppServer, *accounts: Account) -> AsyncIterator[list[Socket]]:
    """Each account with an agent socket open (listening to presence) for the block."""
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for account in accounts:
            ws, _ = await stack.enter_async_context(presence_socket(app, account))
            sockets.append(ws)
        yield sockets


@contextlib.asynccontextmanager
async def presence_socket(
    app: AppServer, account: Account
) -> AsyncIterator[tuple[Socket, dict[str, Any]]]:
    async with app.websocket("/ws/agent") as ws:
        await send(ws, {"type": "hello", "token": account.access_token, "presence": True})
        welcome = (await frames_until(ws, lambda f: f["type"] == "welcome"))[-1]
        yield ws, welcome


def presence_of(user: Account) -> Any:
    return lambda frame: frame["type"] == "presence" and frame["user_id"] == user.user["id"]


def test_availability_switch_is_validated_and_stored(app: AppServer, team: Team) -> None:
    """PATCH /auth/me stores online or away and refuses anything else with a 422 naming it."""
    assert me(app, team.admin)["availability"] == "online"
    away = set_availability(app, team.admin, "away")
    assert away.status_code == 200 and away.json()["user"]["availability"] == "away"
    assert me(app, team.admin)["availability"] == "away"
    for bad in ("busy", None, 1, ""):
        refused = set_availability(app, team.admin, bad)
        assert refused.status_code == 422
        assert refused.json()["error"]["message"].startswith("availability")
    other = call(app, team.admin, "PATCH", "/api/v1/auth/me", json={"role": "owner"})
    assert other.status_code == 422 and other.json()["error"]["message"].startswith("role")
    empty = call(app, team.admin, "PATCH", "/api/v1/auth/me", json={})
    assert empty.status_code == 422
    assert me(app, team.admin)["availability"] == "away"
    anonymous = app.http.patch("/api/v1/auth/me", json={"availability": "online"})
    assert anonymous.status_code == 401


async def test_online_needs_a_socket_and_the_switch(app: AppServer, team: Team) -> None:
    """A user is online only while an agent socket of theirs is open and their switch is on."""
    agent = create_account(app, team.admin, "agent")
    assert me(app, agent)["online"] is False
    async with agent_socket(app, agent.access_token):
        assert me(app, agent)["online"] is True
        listed = call(app, team.admin, "GET", "/api/v1/users").json()["users"]
        assert next(u for u in listed if u["id"] == agent.user["id"])["online"] is True
        assert set_availability(app, agent, "away").json()["user"]["online"] is False
        assert me(app, agent)["online"] is False
        assert set_availability(app, agent, "online").json()["user"]["online"] is True
    await eventually_async(lambda: me(app, agent)["online"] is False, what="offline after close")
    assert me(app, agent)["availability"] == "online"


async def test_colleagues_hear_presence_changes(app: AppServer, team: Team) -> None:
    """Sockets that ask for presence hear a colleague come online, switch away and back, and
    leave; sockets that did not ask hear none of it."""
    agent = create_account(app, team.admin, "agent")
    async with (
        presence_socket(app, team.admin) as (watcher, _),
        agent_socket(app, team.admin.access_token) as (plain, _),
    ):
        async with agent_socket(app, agent.access_token):
            came = (await frames_until(watcher, presence_of(agent)))[-1]
            assert came == {
                "type": "presence",
                "user_id": agent.user["id"],
                "availability": "online",
                "online": True,
            }
            set_availability(app, agent, "away")
            went = (await frames_until(watcher, presence_of(agent)))[-1]
            assert (went["availability"], went["online"]) == ("away", False)
            set_availability(app, agent, "online")
            back = (await frames_until(watcher, presence_of(agent)))[-1]
            assert (back["availability"], back["online"]) == ("online", True)
        left = (await frames_until(watcher, presence_of(agent)))[-1]
        assert (left["availability"], left["online"]) == ("online", False)
        assert [f for f in await quiet(plain) if f["type"] == "presence"] == []


async def test_auto_assign_round_robin_among_online_staff(app: AppServer, team: Team) -> None:
    """With auto-assign on, new conversations go in turn to the online staff (never to someone
    away or without a socket), the least recently assigned first."""
    first = create_account(app, team.admin, "agent")
    second = create_account(app, team.admin, "agent")
    away = create_account(app, team.admin, "agent")
    site = configure(app, team, auto_assign=True)
    assert site["auto_assign"] is True and site["max_open_per_agent"] == 0
    set_availability(app, away, "away")
    async with online(app, first, second, away):
        given = [assignee(app, team.admin, new_conversation(app, team.key)[1]) for _ in range(4)]
    ids = {first.user["id"], second.user["id"]}
    assert set(given) == ids
    assert given[0] != given[1] and given[0] == given[2] and given[1] == given[3]
    audit = call(app, team.admin, "GET", "/api/v1/audit").json()["entries"]
    auto = [e for e in audit if e["action"] == "conversation.assigned"]
    assert len(auto) == 4 and all(e["details"]["auto"] and e["actor"] is None for e in auto)


async def test_conversation_events_carry_the_auto_assignee(app: AppServer, team: Team) -> None:
    """Agents hear an auto-assigned conversation with its assignee before its first message."""
    agent = create_account(app, team.admin, "agent")
    configure(app, team, auto_assign=True)
    async with online(app, agent) as [ws]:
        _, cid = new_conversation(app, team.key)
        frames = await frames_until(ws, lambda f: f.get("event") == "message.created")
    updated = [f for f in frames if f.get("event") == "conversation.updated"]
    assert updated[0]["data"]["conversation"]["id"] == cid
    assert updated[0]["data"]["conversation"]["assignee"]["id"] == agent.user["id"]
    first_message = next(f for f in frames if f.get("event") == "message.created")
    assert first_message["data"]["conversation"]["assignee"]["id"] == agent.user["id"]


async def test_cap_counts_open_conversations_per_site(app: AppServer, team: Team) -> None:
    """An agent at the cap gets nothing more until one of theirs closes; with everyone at the
    cap a conversation stays unassigned."""
    agent = create_account(app, team.admin, "agent")
    configure(app, team, auto_assign=True, max_open_per_agent=2)
    async with online(app, agent):
        cids = [new_conversation(app, team.key)[1] for _ in range(3)]
        assert [assignee(app, team.admin, cid) for cid in cids] == [agent.user["id"]] * 2 + [None]
        closed = call(app, agent, "POST", f"/api/v1/conversations/{cids[0]}/close")
        assert closed.status_code == 200
        _, later = new_conversation(app, team.key)
        assert assignee(app, team.admin, later) == agent.user["id"]


async def test_nobody_eligible_or_auto_assign_off_leaves_it_unassigned(
    app: AppServer, team: Team
) -> None:
    """Auto-assign off, nobody connected, or everyone away: the conversation stays unassigned."""
    agent = create_account(app, team.admin, "agent")
    async with online(app, agent):
        assert assignee(app, team.admin, new_conversation(app, team.key)[1]) is None
    configure(app, team, auto_assign=True)
    assert assignee(app, team.admin, new_conversation(app, team.key)[1]) is None
    set_availability(app, agent, "away")
    async with online(app, agent):
        assert assignee(app, team.admin, new_conversation(app, team.key)[1]) is None


async def test_reopened_unassigned_conversation_is_assigned(app: AppServer, team: Team) -> None:
    """A closed, unassigned conversation that the visitor reopens goes to an online agent."""
    agent = create_account(app, team.admin, "agent")
    configure(app, team, auto_assign=True)
    token, cid = new_conversation(app, team.key)
    assert assignee(app, team.admin, cid) is None
    assert call(app, team.admin, "POST", f"/api/v1/conversations/{cid}/close").status_code == 200
    async with online(app, agent):
        _, again = new_conversation(app, team.key, token)
        assert again == cid
        assert assignee(app, team.admin, cid) == agent.user["id"]


async def test_auto_assign_stays_in_the_tenant(app: AppServer, team: Team) -> None:
    """Staff online in another tenant are never given this tenant's conversations."""
    stranger = other_tenant_account(app, "agent")
    configure(app, team, auto_assign=True)
    async with online(app, stranger):
        assert assignee(app, team.admin, new_conversation(app, team.key)[1]) is None
        assert is_online(app, team.key) is False
        assert is_online(app, site_key(app, tenant_slug(app, stranger))) is True


def test_site_rejects_bad_auto_assign_settings(app: AppServer, team: Team) -> None:
    """auto_assign must be a boolean and max_open_per_agent a whole number 0-1000; agents may
    not change them."""
    path = f"/api/v1/sites/{team.site_id}"
    for body, name in (
        ({"auto_assign": "yes"}, "auto_assign"),
        ({"auto_assign": 1}, "auto_assign"),
        ({"max_open_per_agent": -1}, "max_open_per_agent"),
        ({"max_open_per_agent": 1.5}, "max_open_per_agent"),
        ({"max_open_per_agent": True}, "max_open_per_agent"),
        ({"max_open_per_agent": 1001}, "max_open_per_agent"),
    ):
        refused = call(app, team.admin, "PATCH", path, json=body)
        assert refused.status_code == 422 and refused.json()["error"]["message"].startswith(name)
    site = call(app, team.admin, "GET", "/api/v1/sites").json()["sites"][0]
    assert (site["auto_assign"], site["max_open_per_agent"]) == (False, 0)
    agent = create_account(app, team.admin, "agent")
    assert call(app, agent, "PATCH", path, json={"auto_assign": True}).status_code == 403
    stranger = other_tenant_account(app, "admin")
    assert call(app, stranger, "PATCH", path, json={"auto_assign": True}).status_code == 404


async def test_widget_status_follows_staff_presence(app: AppServer, team: Team) -> None:
    """The widget's status is true while some agent of the tenant is online: it turns false when
    they switch away or close their last socket."""
    agent = create_account(app, team.admin, "agent")
    assert is_online(app, team.key) is False
    async with online(app, agent):
        assert is_online(app, team.key) is True
        set_availability(app, agent, "away")
        assert is_online(app, team.key) is False
        set_availability(app, agent, "online")
        assert is_online(app, team.key) is True
    await eventually_async(lambda: not is_online(app, team.key), what="status false after close")


def test_widget_status_refuses_unknown_sites_and_origins(app: AppServer, team: Team) -> None:
    """An unknown site key is 404 unknown_site, a missing one 422, and an origin the site does
    not allow 403 (with the CORS headers, so the page can read why)."""
    unknown = widget_status(app, "site_nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_site"
    missing = app.http.get("/api/v1/widget/status")
    assert missing.status_code == 422 and "site_key" in missing.json()["error"]["message"]
    configure(app, team, allowed_origins=["https://clinic.example"])
    allowed = widget_status(app, team.key, Origin="https://clinic.example")
    assert allowed.status_code == 200 and allowed.json() == {"online": False}
    assert allowed.headers["access-control-allow-origin"] == "https://clinic.example"
    refused = widget_status(app, team.key, Origin="https://evil.example")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    assert refused.headers["access-control-allow-origin"] == "https://evil.example"


async def test_presence_counts_sockets_and_announces_only_changes() -> None:
    """Presence (no server): a user is connected from their first socket to their last, and the
    team hears only when that makes them online or not, never while switched away."""
    from omnichat.accounts.presence import Presence, topic
    from omnichat.protocol.hub import Hub

    hub = Hub()
    presence = Presence(hub)
    async with hub.join(topic(1)) as listener:
        presence.opened(1, 7, "online")
        presence.opened(1, 7, "online")
        presence.opened(1, 8, "away")
        assert presence.connected_in(1) == {7, 8} and presence.connected_in(2) == frozenset()
        presence.closed(1, 7)
        assert presence.connected(7)
        presence.closed(1, 7)
        presence.closed(1, 8)
        presence.switched(1, 9, "away")
        assert presence.connected_in(1) == frozenset()
        heard = [listener.next() for _ in range(listener.pending)]
        frames = [orjson.loads(await frame) for frame in heard]
    assert [(f["user_id"], f["availability"], f["online"]) for f in frames] == [
        (7, "online", True),
        (7, "online", False),
        (9, "away", False),
    ]


def test_hello_presence_flag_is_checked() -> None:
    """The agent hello's presence flag defaults to false and must be a boolean."""
    from omnichat.protocol import agent_frames
    from omnichat.protocol.frames import FrameError

    assert agent_frames.parse('{"type":"hello","token":"t"}') == agent_frames.Hello("t", None)
    asked = agent_frames.parse('{"type":"hello","token":"t","presence":true}')
    assert isinstance(asked, agent_frames.Hello) and asked.presence is True
    with pytest.raises(FrameError):
        agent_frames.parse('{"type":"hello","token":"t","presence":"yes"}')
