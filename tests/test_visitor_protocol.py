"""The visitor protocol: sessions, hello/welcome, resume, tabs, limits.

In process, except what only a real server shows: uvicorn's frame size limit, and shutdown
releasing long polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.app_server import AppServer
from tests.servers import ServerProcess, query
from tests.timing import UNIT
from tests.visitors import bearer, new_session, next_frame, send, visitor_socket


def client_id() -> str:
    return uuid.uuid4().hex


async def test_first_message_opens_conversation_with_greeting(app: AppServer) -> None:
    """The first message opens a conversation whose stored first message is the greeting."""
    session = new_session(app)
    assert session["conversation"] is None and session["messages"] == []
    assert len(session["token"]) >= 32
    async with visitor_socket(app, session["token"]) as (ws, welcome):
        assert welcome["conversation"] is None and welcome["more"] is False
        await send(ws, {"type": "message", "client_id": "first", "text": "  Hello?  "})
        ack = await next_frame(ws, "ack")
    assert ack["client_id"] == "first"
    assert ack["message"]["text"] == "Hello?" and ack["message"]["seq"] == 2
    again = new_session(app, session["token"])
    assert [m["sender"] for m in again["messages"]] == ["system", "visitor"]
    assert again["messages"][0]["text"] == session["site"]["greeting"]
    assert again["conversation"]["status"] == "open" and again["conversation"]["last_seq"] == 2
    assert again["visitor"]["id"] == session["visitor"]["id"]


async def test_resume_after_disconnects_has_no_gap_and_no_duplicate(app: AppServer) -> None:
    """Messages sent while a tab was away arrive on resume exactly once, in order."""
    token = new_session(app)["token"]
    seen: dict[int, str] = {}
    last_seq = 0
    for round_ in range(4):
        async with visitor_socket(app, token, last_seq) as (ws, welcome):
            for message in welcome["messages"]:
                assert message["seq"] not in seen
                seen[message["seq"]] = message["text"]
            last_seq = max(seen, default=0)
            await send(ws, {"type": "message", "client_id": client_id(), "text": f"live {round_}"})
            while (frame := await next_frame(ws))["type"] != "ack":
                if frame["type"] == "message":  # the greeting, stored with the first message
                    assert frame["message"]["seq"] not in seen
                    seen[frame["message"]["seq"]] = frame["message"]["text"]
            seen[frame["message"]["seq"]] = frame["message"]["text"]
            last_seq = frame["message"]["seq"]
        # While no socket is open, the other tab (HTTP) sends two messages.
        for n in range(2):
            response = app.http.post(
                "/api/v1/widget/messages",
                json={"client_id": client_id(), "text": f"away {round_}.{n}"},
                headers=bearer(token),
            )
            assert response.status_code == 201
    async with visitor_socket(app, token, last_seq) as (_, welcome):
        for message in welcome["messages"]:
            assert message["seq"] not in seen
            seen[message["seq"]] = message["text"]
    assert sorted(seen) == list(range(1, len(seen) + 1))
    assert len(seen) == 1 + 4 * 3


async def test_resend_after_lost_ack_stores_once(app: AppServer) -> None:
    """Sending the same client_id again (ack lost) returns the first message, not a second one."""
    token = new_session(app)["token"]
    async with visitor_socket(app, token) as (ws, _):
        await send(ws, {"type": "message", "client_id": "same", "text": "once"})
        first = await next_frame(ws, "ack")
    async with visitor_socket(app, token, 0) as (ws, _):
        await send(ws, {"type": "message", "client_id": "same", "text": "once"})
        again = await next_frame(ws, "ack")
    assert again["message"] == first["message"]
    http_again = app.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "same", "text": "once"},
        headers=bearer(token),
    )
    assert http_again.status_code == 200 and http_again.json()["message"] == first["message"]
    texts = [m["text"] for m in new_session(app, token)["messages"]]
    assert texts.count("once") == 1


async def test_two_tabs_each_get_every_message_once(app: AppServer) -> None:
    """The sending tab gets an ack, the other tab a message frame, both exactly once."""
    token = new_session(app)["token"]
    async with (
        visitor_socket(app, token) as (tab1, _),
        visitor_socket(app, token) as (tab2, _),
    ):
        for n in range(3):
            await send(tab1, {"type": "message", "client_id": f"t{n}", "text": f"from tab1 #{n}"})
        acks = [await next_frame(tab1, "ack") for _ in range(3)]
        received = [(await next_frame(tab2, "message"))["message"] for _ in range(4)]
        # tab2 sees the conversation's greeting then the three messages, each once, in order.
        assert [m["sender"] for m in received] == ["system", "visitor", "visitor", "visitor"]
        assert [m["seq"] for m in received[1:]] == [a["message"]["seq"] for a in acks]
        with pytest.raises(TimeoutError):
            await next_frame(tab2, "message", timeout=0.5 * UNIT)
        await send(tab2, {"type": "ping"})
        assert (await next_frame(tab2, "pong"))["type"] == "pong"
        with pytest.raises(TimeoutError):
            await next_frame(tab1, "message", timeout=0.5 * UNIT)


async def test_unknown_or_foreign_token_gives_a_new_visitor(app: AppServer) -> None:
    """An unknown token, or a token from another site, yields a fresh visitor with no history."""
    mine = new_session(app)
    app.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "x", "text": "private to me"},
        headers=bearer(mine["token"]),
    )
    stranger = new_session(app, "not-a-real-token")
    assert stranger["visitor"]["id"] != mine["visitor"]["id"]
    assert stranger["messages"] == [] and stranger["token"] != "not-a-real-token"
    other_site = _add_site(app, origins="[]")
    foreign = new_session(app, mine["token"], site_key=other_site)
    assert foreign["visitor"]["id"] != mine["visitor"]["id"] and foreign["messages"] == []


def _add_site(app: AppServer, origins: str) -> str:
    """A second site of the default tenant, written straight into the database."""
    key = f"site_test_{uuid.uuid4().hex}"
    query(
        app,
        "INSERT INTO sites (tenant_id, name, site_key, allowed_origins, created_at, updated_at)"
        " VALUES (1, 'Second', ?, ?, 'now', 'now')",
        (key, origins),
    )
    return key


async def test_origin_outside_allowed_list_is_refused(app: AppServer) -> None:
    """A site with allowed origins refuses other origins on every entry point, preflight too."""
    key = _add_site(app, '["https://clinic.example"]')
    good = new_session(app, site_key=key, Origin="https://clinic.example")
    bad = app.http.post(
        "/api/v1/widget/session",
        json={"site_key": key, "token": None},
        headers={"Origin": "https://evil.example"},
    )
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "origin_not_allowed"
    read = app.http.get(
        "/api/v1/widget/messages",
        headers={**bearer(good["token"]), "Origin": "https://evil.example"},
    )
    assert read.status_code == 403
    preflight = app.http.options(
        "/api/v1/widget/session",
        headers={"Origin": "https://clinic.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://clinic.example"
    async with app.websocket("/ws/visitor", {"Origin": "https://evil.example"}) as ws:
        await send(ws, {"type": "hello", "token": good["token"], "last_seq": 0})
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_production_preflight_refuses_unconfigured_origins(start_app) -> None:  # type: ignore[no-untyped-def]
    """In production an empty allowed list refuses browsers, with a message to configure it."""
    process: AppServer = start_app(
        OMNICHAT_SERVER_ENV="production",
        OMNICHAT_SECURITY_SECRET_KEY=secrets.token_urlsafe(48),
        OMNICHAT_SECURITY_BCRYPT_ROUNDS="12",
    )
    preflight = process.http.options(
        "/api/v1/widget/session",
        headers={"Origin": "https://any.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
    from tests.visitors import default_site_key

    refused = process.http.post(
        "/api/v1/widget/session",
        json={"site_key": default_site_key(process), "token": None},
        headers={"Origin": "https://any.example"},
    )
    assert refused.status_code == 403
    assert "not configured" in refused.json()["error"]["message"]


async def test_bad_frames_get_error_frames_and_socket_stays_usable(app: AppServer) -> None:
    """Malformed JSON, unknown types and over-long text get error frames; the socket still works."""
    token = new_session(app)["token"]
    async with visitor_socket(app, token) as (ws, _):
        await ws.send("{nope")
        assert (await next_frame(ws, "error"))["code"] == "malformed_json"
        await send(ws, {"type": "teleport"})
        assert (await next_frame(ws, "error"))["code"] == "unknown_type"
        await send(ws, {"type": "message", "client_id": "long", "text": "x" * 4001})
        error = await next_frame(ws, "error")
        assert error["code"] == "invalid_field" and error["client_id"] == "long"
        assert "4000" in error["message"]
        await send(ws, {"type": "message", "client_id": "ok", "text": "still here"})
        assert (await next_frame(ws, "ack"))["message"]["text"] == "still here"


async def test_oversized_frame_closes_with_1009(server: ServerProcess) -> None:
    """A frame over 64 KiB closes the socket with 1009."""
    token = new_session(server)["token"]
    async with visitor_socket(server, token) as (ws, _):
        await ws.send("x" * (65 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_bad_or_missing_hello_closes_with_4401(app: AppServer) -> None:
    """A first frame that is not a valid hello, or an unknown token, closes with 4401."""
    for first in ('{"type":"ping"}', '{"type":"hello","token":"forged","last_seq":0}'):
        async with app.websocket("/ws/visitor") as ws:
            await ws.send(first)
            with pytest.raises(ConnectionClosed) as closed:
                await next_frame(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.slow
async def test_silent_socket_closes_with_4401_after_10_seconds(app: AppServer) -> None:
    """A socket that never says hello is closed with 4401 after the 10 s hello timeout."""
    async with app.websocket("/ws/visitor") as ws:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws, timeout=20 * UNIT)
        assert 9 <= loop.time() - started <= 15 * UNIT
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_message_rate_limits(start_app) -> None:  # type: ignore[no-untyped-def]
    """Over the per-visitor rate the socket closes 4429 and HTTP answers 429 with Retry-After."""
    process: AppServer = start_app(OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR="3")
    token = new_session(process)["token"]
    async with visitor_socket(process, token) as (ws, _):
        for n in range(3):
            await send(ws, {"type": "message", "client_id": f"r{n}", "text": "hi"})
            await next_frame(ws, "ack")
        await send(ws, {"type": "message", "client_id": "r3", "text": "hi"})
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws, "ack")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    response = process.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "r4", "text": "hi"},
        headers=bearer(token),
    )
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["code"] == "rate_limited"
    texts = [m["text"] for m in new_session(process, token)["messages"]]
    assert texts.count("hi") == 3


def test_identify_counts_against_the_message_rate(start_app) -> None:  # type: ignore[no-untyped-def]
    """identify stores and tells every agent, so past the per-visitor rate it answers 429."""
    process: AppServer = start_app(OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR="3")
    token = new_session(process)["token"]
    answers = [
        process.http.post(
            "/api/v1/widget/identify",
            json={"name": f"Name {n}"},
            headers=bearer(token),
        )
        for n in range(4)
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1


async def test_per_ip_socket_and_session_limits(start_app) -> None:  # type: ignore[no-untyped-def]
    """Past the per-IP socket cap a new socket closes 4429; past the session rate, 429."""
    process: AppServer = start_app(
        OMNICHAT_LIMITS_SOCKETS_PER_IP="2", OMNICHAT_LIMITS_SESSIONS_PER_MINUTE_PER_IP="3"
    )
    token = new_session(process)["token"]
    async with visitor_socket(process, token), visitor_socket(process, token):
        async with process.websocket("/ws/visitor") as third:
            with pytest.raises(ConnectionClosed) as closed:
                await next_frame(third)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    new_session(process, token)
    new_session(process, token)
    limited = process.http.post(
        "/api/v1/widget/session",
        json={"site_key": "whatever", "token": None},
    )
    assert limited.status_code == 429 and "retry-after" in limited.headers


async def test_waiting_long_polls_count_against_the_socket_cap(start_app) -> None:  # type: ignore[no-untyped-def]
    """A held long-poll takes a per-IP socket slot: past the cap a socket or a poll that would
    wait is refused (4429, 429), and the slot frees when the poll answers."""
    process: AppServer = start_app(OMNICHAT_LIMITS_SOCKETS_PER_IP="1")
    token = new_session(process)["token"]
    url = "/api/v1/widget/messages?after=0&wait="
    async with process.async_http(timeout=30, headers=bearer(token)) as client:
        held = asyncio.create_task(client.get(url + "20"))
        deadline = asyncio.get_running_loop().time() + 10 * UNIT
        while True:
            async with process.websocket("/ws/visitor") as probe:
                with contextlib.suppress(ConnectionClosed):
                    await send(probe, {"type": "hello", "token": token, "last_seq": 0})
                    await next_frame(probe, "welcome")
            if probe.close_code == 4429:
                # Refused either because the held poll has the only slot, or because an earlier
                # probe's slot was not yet released when the poll came (then the poll is a 429).
                finished, _ = await asyncio.wait({held}, timeout=0.5 * UNIT)
                if not finished:
                    break  # the held poll has the only slot
            assert asyncio.get_running_loop().time() < deadline, "the poll never took a slot"
            if held.done():  # the probe had the slot when the poll came: try again
                assert held.result().status_code == 429
                held = asyncio.create_task(client.get(url + "20"))
        refused = await client.get(url + "1")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limited"
        # A poll that need not wait still answers; the held one frees its slot when it returns.
        assert (await client.get(url + "0")).status_code == 200
        await client.post("/api/v1/widget/messages", json={"client_id": "w1", "text": "hi"})
        assert (await asyncio.wait_for(held, 5 * UNIT)).status_code == 200
        assert (await client.get("/api/v1/widget/messages?after=99&wait=1")).status_code == 200


async def test_long_poll_wakes_on_new_message(app: AppServer) -> None:
    """GET messages with wait holds an empty answer and returns as soon as a message is stored."""
    token = new_session(app)["token"]
    first = app.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "lp1", "text": "one"},
        headers=bearer(token),
    ).json()["message"]
    async with app.async_http(timeout=30) as client:
        poll = asyncio.create_task(
            client.get(
                f"/api/v1/widget/messages?after={first['seq']}&wait=20", headers=bearer(token)
            )
        )
        await asyncio.sleep(0.3 * UNIT)
        assert not poll.done()
        await client.post(
            "/api/v1/widget/messages",
            json={"client_id": "lp2", "text": "two"},
            headers=bearer(token),
        )
        response = await asyncio.wait_for(poll, 5 * UNIT)
    assert [m["text"] for m in response.json()["messages"]] == ["two"]


async def test_shutdown_releases_long_polls_at_once(start_server) -> None:  # type: ignore[no-untyped-def]
    """A waiting long-poll answers (empty) as soon as the server begins to stop, so a restart
    is not held up by fallback visitors."""
    process: ServerProcess = start_server()
    token = new_session(process)["token"]
    async with process.async_http(timeout=30) as client:
        poll = asyncio.create_task(
            client.get("/api/v1/widget/messages?after=0&wait=25", headers=bearer(token))
        )
        await asyncio.sleep(0.5 * UNIT)
        assert not poll.done()
        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping = loop.run_in_executor(None, process.stop)
        response = await asyncio.wait_for(poll, 10 * UNIT)
        await stopping
        assert loop.time() - started < 5 * UNIT
    assert response.status_code == 200 and response.json() == {"messages": []}


def test_cors_exposes_retry_after(app: AppServer) -> None:
    """Cross-origin answers let the widget read Retry-After, so it backs off as told."""
    response = app.http.post(
        "/api/v1/widget/session",
        json={"site_key": "nope", "token": None},
        headers={"Origin": "https://shop.example"},
    )
    assert response.headers["access-control-expose-headers"] == "Retry-After"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_id": "a", "text": ""}, "text"),
        ({"client_id": "a", "text": "x" * 4001}, "text"),
        ({"client_id": "", "text": "hi"}, "client_id"),
        ({"text": "hi"}, "client_id"),
    ],
)
def test_http_send_validation_names_the_field(
    app: AppServer, body: dict[str, str], field: str
) -> None:
    """Invalid text or client_id gives 422 naming the field; nothing is stored."""
    token = new_session(app)["token"]
    response = app.http.post("/api/v1/widget/messages", json=body, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(field)
    assert new_session(app, token)["conversation"] is None


def test_non_ascii_digits_in_query_are_422(app: AppServer) -> None:
    """A query number written with other digits (like '²') is a clear 422, not a crash."""
    token = new_session(app)["token"]
    response = app.http.get("/api/v1/widget/messages?after=²", headers=bearer(token))
    assert response.status_code == 422 and response.json()["error"]["message"].startswith("after")


def test_malformed_and_oversized_bodies(app: AppServer) -> None:
    """A body that is not JSON is 400; one over the size limit is 413; both use the envelope."""
    url = "/api/v1/widget/session"
    bad = app.http.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"
    big = app.http.post(url, content=b"x" * 70000, headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
