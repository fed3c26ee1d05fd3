"""WS /ws/agent: resume by event id, resync, live frames, closing.

In process, except resuming across a restart, which a real server makes.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests.agents import agent_socket, call, frames_until, quiet, reply, site_key, visitor_says
from tests.app_server import AppServer
from tests.servers import query
from tests.staff import Account, create_account, sign_in_owner, unique_ip
from tests.timing import UNIT, eventually_async
from tests.visitors import next_frame, send, visitor_socket


def is_event(frame: dict) -> bool:
    return bool(frame["type"] == "event")


async def closed_with(ws: object, timeout: float = 5 * UNIT) -> int | None:
    """The close code the app sent, once the socket closes (frames before it are dropped)."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()  # type: ignore[attr-defined]
    return None if closed.value.rcvd is None else closed.value.rcvd.code


def _sender_or_text(message: dict | None) -> str | None:
    if message is None:
        return None
    return "system" if message["sender"] == "system" else str(message["text"])


async def test_resume_replays_exactly_the_missed_events(app: AppServer, owner: Account) -> None:
    """Events produced while the socket was away arrive on resume once each, in order, then live."""
    async with agent_socket(app, owner.access_token) as (_, welcome):
        left_at = welcome["last_event_id"]
    token, first = visitor_says(app, "while you were away")
    cid = first["conversation_id"]
    reply(app, owner, cid, "noted", private=True)
    call(app, owner, "POST", f"/api/v1/conversations/{cid}/close")
    async with agent_socket(app, owner.access_token, left_at) as (ws, welcome):
        newest = welcome["last_event_id"]
        replayed = await frames_until(ws, lambda f: is_event(f) and f["id"] == newest)
        assert [f["id"] for f in replayed] == list(range(left_at + 1, newest + 1))
        # System texts are per-site settings other tests may change: their sender is what counts.
        mine = [
            (f["event"], _sender_or_text(f["data"].get("message")))
            for f in replayed
            if f["data"].get("conversation", {}).get("id") == cid
        ]
        assert mine == [
            ("conversation.created", None),
            ("message.created", "system"),
            ("message.created", "while you were away"),
            ("message.created", "noted"),
            ("conversation.updated", None),
            ("message.created", "system"),
        ]
        visitor_says(app, "back again", token)
        live = await next_frame(ws, "event")
        assert live["id"] == newest + 1


async def test_resume_while_events_flow_has_no_gap_or_duplicate(
    app: AppServer, owner: Account
) -> None:
    """Reconnecting while visitors keep writing yields consecutive event ids, none twice."""
    async with agent_socket(app, owner.access_token) as (_, welcome):
        start = welcome["last_event_id"]
    stop = asyncio.Event()

    async def chatter() -> None:
        # Visitors take turns (each from its own address) so no rate limit slows the stream.
        key = site_key(app)
        async with app.async_http() as client:
            while not stop.is_set():
                session = await client.post(
                    "/api/v1/widget/session",
                    json={"site_key": key, "token": None},
                    headers={"X-Forwarded-For": unique_ip()},
                )
                for _ in range(10):
                    sent = await client.post(
                        "/api/v1/widget/messages",
                        json={"client_id": uuid.uuid4().hex, "text": "busy"},
                        headers={
                            "Authorization": f"Bearer {session.json()['token']}",
                            "X-Forwarded-For": unique_ip(),
                        },
                    )
                    assert sent.status_code == 201, sent.text

    writer = asyncio.create_task(chatter())
    try:
        ids: list[int] = []
        last = start
        for _ in range(3):
            async with agent_socket(app, owner.access_token, last) as (ws, welcome):
                target = welcome["last_event_id"] + 5
                frames = await frames_until(ws, lambda f, t=target: is_event(f) and f["id"] >= t)
                ids += [f["id"] for f in frames if is_event(f)]
                last = ids[-1]
    finally:
        stop.set()
        await writer
    assert ids == list(range(start + 1, ids[-1] + 1))


async def test_null_means_live_only(app: AppServer, owner: Account) -> None:
    """With last_event_id null nothing is replayed; the first event is the next new one."""
    visitor_says(app, "before the socket")
    async with agent_socket(app, owner.access_token, None) as (ws, welcome):
        assert await quiet(ws) == []
        visitor_says(app, "after the socket")
        first = await next_frame(ws)
    assert first["type"] == "event" and first["id"] == welcome["last_event_id"] + 1


async def test_resume_from_the_future_is_told_to_resync(app: AppServer, owner: Account) -> None:
    """An id newer than the newest gets a resync, then live events."""
    async with agent_socket(app, owner.access_token, 10**9) as (ws, welcome):
        assert await next_frame(ws) == {"type": "resync"}
        visitor_says(app, "live after resync")
        assert (await next_frame(ws))["id"] == welcome["last_event_id"] + 1


async def test_resume_from_before_retention_is_told_to_resync(start_server) -> None:  # type: ignore[no-untyped-def]
    """Resuming from before what retention kept resyncs; from just before the kept one replays."""
    server = start_server()
    owner = sign_in_owner(server)
    for n in range(3):
        visitor_says(server, f"old {n}")
    server.stop()
    query(server, "UPDATE events SET created_at = '2020-01-01T00:00:00.000Z'")
    newest = query(server, "SELECT MAX(id) AS id FROM events")[0]["id"]
    server.start()  # the retention job runs at start-up

    def events_left() -> int:
        return int(query(server, "SELECT COUNT(*) AS n FROM events")[0]["n"])

    await eventually_async(lambda: events_left() == 1, what="retention to keep one event")
    owner = sign_in_owner(server)
    async with agent_socket(server, owner.access_token, 0) as (ws, _):
        assert await next_frame(ws) == {"type": "resync"}
    # The newest event is kept, so an agent who had seen the one before it resumes normally.
    async with agent_socket(server, owner.access_token, newest - 1) as (ws, welcome):
        assert welcome["last_event_id"] == newest
        assert (await next_frame(ws))["id"] == newest
        assert await quiet(ws) == []


async def test_replies_reach_the_visitor_and_other_agents_live(
    app: AppServer, owner: Account
) -> None:
    """An agent's reply reaches the visitor's socket and every agent socket of the tenant."""
    colleague = create_account(app, owner, "agent")
    token, first = visitor_says(app, "hello?")
    cid = first["conversation_id"]
    async with (
        visitor_socket(app, token, first["seq"]) as (visitor_ws, _),
        agent_socket(app, colleague.access_token) as (agent_ws, _),
    ):
        assert reply(app, owner, cid, "Hi, how can I help?").status_code == 201
        seen = await next_frame(visitor_ws, "message")
        event = await next_frame(agent_ws, "event")
    assert seen["message"]["text"] == "Hi, how can I help?"
    assert seen["message"]["author"]["name"] == owner.user["name"]
    assert event["event"] == "message.created"
    assert event["data"]["message"]["text"] == "Hi, how can I help?"
    assert event["data"]["conversation"]["id"] == cid


async def test_seen_reaches_agents_clamped_to_what_the_visitor_was_sent(
    app: AppServer, owner: Account
) -> None:
    """A visitor's seen marker reaches agents, never past the newest message its socket got."""
    token, first = visitor_says(app, "seen test")
    cid = first["conversation_id"]
    async with (
        visitor_socket(app, token, 0) as (visitor_ws, _),
        agent_socket(app, owner.access_token) as (owner_ws, _),
    ):
        await send(visitor_ws, {"type": "seen", "seq": first["seq"]})
        assert await next_frame(owner_ws, "seen") == {
            "type": "seen",
            "conversation_id": cid,
            "seq": first["seq"],
        }
        await send(visitor_ws, {"type": "seen", "seq": first["seq"] + 1000})
        assert (await next_frame(owner_ws, "seen"))["seq"] == first["seq"]


async def test_typing_travels_both_ways(app: AppServer, owner: Account) -> None:
    """Visitor typing reaches agents; agent typing reaches the visitor (not when private)."""
    colleague = create_account(app, owner, "agent")
    token, first = visitor_says(app, "typing test")
    cid = first["conversation_id"]
    async with (
        visitor_socket(app, token, first["seq"]) as (visitor_ws, _),
        agent_socket(app, owner.access_token) as (owner_ws, _),
        agent_socket(app, colleague.access_token) as (colleague_ws, _),
    ):
        await send(visitor_ws, {"type": "typing", "on": True})
        from_visitor = await next_frame(owner_ws, "typing")
        assert from_visitor["conversation_id"] == cid and from_visitor["on"] is True
        await send(
            owner_ws, {"type": "typing", "conversation_id": cid, "on": False, "private": True}
        )
        await send(owner_ws, {"type": "typing", "conversation_id": cid, "on": True})
        to_visitor = await next_frame(visitor_ws, "typing")
        assert to_visitor == {"type": "typing", "on": True, "name": owner.user["name"]}
        to_colleague = [await next_frame(colleague_ws, "typing") for _ in range(3)]
        assert [(f["on"], f.get("by")) for f in to_colleague[1:]] == [
            (False, owner.user["name"]),
            (True, owner.user["name"]),
        ]
        # The typist's own socket hears nothing of it.
        assert [f for f in await quiet(owner_ws) if f["type"] == "typing"] == []


async def test_a_visitors_typing_flood_is_not_fanned_out(app: AppServer, owner: Account) -> None:
    """Typing frames past a visitor's rate are dropped, so a flood never floods every agent."""
    token, first = visitor_says(app, "flood")
    cid = first["conversation_id"]
    async with (
        visitor_socket(app, token, first["seq"]) as (visitor_ws, _),
        agent_socket(app, owner.access_token) as (owner_ws, _),
    ):
        for n in range(1000):
            await send(visitor_ws, {"type": "typing", "on": n % 2 == 0})
        # Frames are handled in order: the message comes after every typing frame was dealt with.
        await send(visitor_ws, {"type": "message", "client_id": uuid.uuid4().hex, "text": "x"})
        received = await frames_until(
            owner_ws,
            lambda f: (
                is_event(f)
                and f["data"].get("message", {}).get("text") == "x"
                and f["data"]["message"]["conversation_id"] == cid
            ),
            10 * UNIT,
        )
    typing = [f for f in received if f["type"] == "typing" and f["conversation_id"] == cid]
    assert 1 <= len(typing) <= 200


async def test_bad_frames_get_error_frames(app: AppServer, owner: Account) -> None:
    """Junk, unknown conversations and a second hello get error frames; ping still answers."""
    async with agent_socket(app, owner.access_token) as (ws, _):
        await ws.send("not json")
        assert (await next_frame(ws, "error"))["code"] == "malformed_json"
        await send(ws, {"type": "typing", "conversation_id": 10**9, "on": True})
        assert (await next_frame(ws, "error"))["code"] == "not_found"
        await send(ws, {"type": "hello", "token": owner.access_token})
        assert (await next_frame(ws, "error"))["code"] == "unexpected_hello"
        await send(ws, {"type": "ping"})
        assert await next_frame(ws, "pong") == {"type": "pong"}


@pytest.mark.parametrize(
    "hello", [{"type": "ping"}, {"type": "hello", "token": "nope"}, {"type": "hello"}]
)
async def test_hello_needs_a_valid_access_token(app: AppServer, hello: dict) -> None:
    """A first frame that is not a hello with a valid access token closes with 4401."""
    async with app.websocket("/ws/agent") as ws:
        await send(ws, hello)
        assert await closed_with(ws) == 4401


async def test_password_change_pending_is_forbidden(app: AppServer, owner: Account) -> None:
    """An account that must still change its password is refused with 4403."""
    created = call(
        app, owner, "POST", "/api/v1/users", json={"email": f"{uuid.uuid4().hex}@x.test"}
    )
    body = created.json()
    login = app.http.post(
        "/api/v1/auth/login",
        json={"email": body["user"]["email"], "password": body["password"]},
        headers={"X-Forwarded-For": "10.9.9.9"},
    )
    async with app.websocket("/ws/agent") as ws:
        await send(ws, {"type": "hello", "token": login.json()["access_token"]})
        assert await closed_with(ws) == 4403


async def test_logout_closes_the_socket_with_4401(app: AppServer) -> None:
    """Signing out ends the session and closes its agent socket with 4401."""
    owner = sign_in_owner(app)
    async with agent_socket(app, owner.access_token) as (ws, _):
        out = call(app, owner, "POST", "/api/v1/auth/logout")
        assert out.status_code == 204
        assert await closed_with(ws) == 4401


async def test_socket_closes_when_its_token_expires(app: AppServer) -> None:
    """A socket closes with 4401 at its access token's expiry, not before."""
    owner = sign_in_owner(app)
    secret = (app.data_dir / "secret_key").read_text().strip()
    claims = jwt.decode(owner.access_token, secret, algorithms=["HS256"])
    short = jwt.encode({**claims, "exp": int(time.time()) + 2}, secret, algorithm="HS256")
    async with agent_socket(app, short) as (ws, _):
        started = time.monotonic()
        assert await closed_with(ws, timeout=10 * UNIT) == 4401
        assert time.monotonic() - started > 0.5
