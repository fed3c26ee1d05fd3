"""Several `python run.py serve` processes as one installation on PostgreSQL and Redis.

Each test starts two real processes sharing a fresh PostgreSQL database and a Redis (throwaway
servers from tests/engines.py), with one secret key, and talks to them as clients do: a visitor
on one process and an agent on the other, a process killed with -9 under load.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.agents import agent_socket, frames_until
from tests.engines import shared_postgres, shared_redis
from tests.servers import ServerProcess, query, server_env
from tests.staff import sign_in_owner
from tests.timing import UNIT
from tests.visitors import bearer, chat_until_killed, new_session, next_frame, send, visitor_socket

Cluster = Callable[..., list[ServerProcess]]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Start `n` processes on one new PostgreSQL database and the shared Redis."""
    started: list[ServerProcess] = []

    def start(n: int = 2, **env: str) -> list[ServerProcess]:
        shared = {
            "OMNICHAT_STORAGE_DATABASE_URL": shared_postgres().new_database(),
            "OMNICHAT_HUB_REDIS_URL": shared_redis().url(),
            # Tokens signed by one process are checked by the others.
            "OMNICHAT_SECURITY_SECRET_KEY": secrets.token_urlsafe(32),
            "OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR": "0",
            **env,
        }
        processes = []
        for i in range(n):
            data_dir = tmp_path / f"p{len(started)}-{i}"
            process = ServerProcess(data_dir, server_env(data_dir, **shared))
            started.append(process)
            processes.append(process.start())
        return processes

    yield start
    for process in started:
        process.stop()


def hammer(process: ServerProcess, tokens: list[str], per_visitor: int, done: list[int]) -> None:
    """Visitors send messages over HTTP to `process`, one after another each."""
    for n in range(per_visitor):
        for token in tokens:
            response = process.http.post(
                "/api/v1/widget/messages",
                json={"client_id": uuid.uuid4().hex, "text": f"m{n}"},
                headers=bearer(token),
            )
            assert response.status_code in (200, 201), response.text
            done.append(1)


async def resume_after(
    process: ServerProcess, token: str, last: int | None
) -> tuple[list[int], int]:
    """Resume the agent stream after `last`: the replayed event ids and the welcome's id."""
    async with agent_socket(process, token, last) as (ws, welcome):
        newest = int(welcome["last_event_id"] or 0)
        if last is None or newest <= last:
            return [], newest
        frames = await frames_until(
            ws, lambda frame: frame.get("type") == "event" and frame["id"] >= newest
        )
        return [frame["id"] for frame in frames if frame.get("type") == "event"], newest


async def test_resuming_after_any_event_id_misses_nothing_while_two_processes_write(
    cluster: Cluster,
) -> None:
    """Event ids become visible in commit order: an agent resuming from the newest id it has,
    again and again while both processes write to one tenant, ends up with every event once."""
    a, b = cluster()
    owner = sign_in_owner(a)
    tokens_a = [new_session(a)["token"] for _ in range(4)]
    tokens_b = [new_session(b)["token"] for _ in range(4)]
    sent: list[int] = []
    writers = [
        threading.Thread(target=hammer, args=(a, tokens_a, 25, sent)),
        threading.Thread(target=hammer, args=(b, tokens_b, 25, sent)),
    ]
    for writer in writers:
        writer.start()
    seen: list[int] = []
    last = (await resume_after(a, owner.access_token, None))[1]
    start = last
    while any(writer.is_alive() for writer in writers):
        ids, _ = await resume_after(a, owner.access_token, last)
        seen += ids
        last = max([last, *ids])
    for writer in writers:
        writer.join()
    ids, _ = await resume_after(b, owner.access_token, last)
    seen += ids
    stored = [
        row["id"]
        for row in query(
            a,
            "SELECT e.id FROM events e JOIN tenants t ON t.id = e.tenant_id"
            " WHERE t.slug = 'default' AND e.id > :start ORDER BY e.id",
            {"start": start},
        )
    ]
    assert len(sent) == 200
    assert len(stored) >= 200
    assert seen == stored, "resuming skipped or repeated an event"


async def test_a_process_killed_under_load_loses_nothing_and_visitors_resume_on_another(
    cluster: Cluster,
) -> None:
    """kill -9 of process A mid-traffic: every acknowledged message is stored once, and each
    visitor resumes on process B from its last seq with no gap and no duplicate."""
    a, b = cluster(OMNICHAT_LIMITS_SOCKETS_PER_IP="0")
    tokens = [new_session(a)["token"] for _ in range(10)]
    acked: list[str] = []
    tasks = [
        asyncio.create_task(chat_until_killed(a, token, acked, f"v{i}"))
        for i, token in enumerate(tokens)
    ]
    deadline = asyncio.get_running_loop().time() + 20 * UNIT
    while len(acked) < 200 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    a.kill()
    await asyncio.wait_for(asyncio.gather(*tasks), 10 * UNIT)
    assert len(acked) >= 200

    stored = [
        row["client_id"]
        for row in query(b, "SELECT client_id FROM messages WHERE client_id IS NOT NULL")
    ]
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert set(acked) <= set(stored), "an acknowledged message was lost"
    for token in tokens:
        history: list[dict[str, Any]] = new_session(b, token)["messages"]
        seqs = [m["seq"] for m in history]
        assert seqs == list(range(1, len(seqs) + 1))
        # Resuming from half way on B gives exactly the rest, then the socket is live there.
        half = len(seqs) // 2
        async with visitor_socket(b, token, last_seq=half) as (ws, welcome):
            assert [m["seq"] for m in welcome["messages"]] == seqs[half:]
            await send(ws, {"type": "message", "client_id": f"after-{token[:6]}", "text": "on B"})
            ack = await next_frame(ws, "ack")
            assert ack["message"]["seq"] == seqs[-1] + 1


async def test_a_visitor_on_one_process_and_an_agent_on_another_chat_live(
    cluster: Cluster,
) -> None:
    """Live frames cross processes through Redis: the agent on B sees the visitor's message on
    A at once, and the visitor on A gets B's reply."""
    a, b = cluster()
    owner = sign_in_owner(b)
    token = new_session(a)["token"]
    async with (
        agent_socket(b, owner.access_token) as (agent, _),
        visitor_socket(a, token) as (visitor, _),
    ):
        await send(visitor, {"type": "message", "client_id": "live-1", "text": "hello from A"})
        ack = await next_frame(visitor, "ack")
        conversation_id = ack["message"]["conversation_id"]
        frames = await frames_until(
            agent,
            lambda f: (
                f.get("event") == "message.created"
                and f["data"]["message"]["text"] == "hello from A"
            ),
        )
        assert frames[-1]["data"]["message"]["conversation_id"] == conversation_id
        sent = b.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"client_id": "reply-1", "text": "hello from B"},
            headers=owner.headers,
        )
        assert sent.status_code == 201, sent.text
        while True:
            frame = await next_frame(visitor, "message")
            if frame["message"]["sender"] == "agent":
                break
        assert frame["message"]["text"] == "hello from B"


async def test_signing_out_closes_the_sessions_sockets_on_every_process(
    cluster: Cluster,
) -> None:
    """`logout` on A revokes the session: its agent sockets on A and on B are closed (4401)."""
    a, b = cluster()
    owner = sign_in_owner(a)
    async with (
        agent_socket(a, owner.access_token) as (on_a, _),
        agent_socket(b, owner.access_token) as (on_b, _),
    ):
        answer = a.http.post(
            "/api/v1/auth/logout",
            json={"refresh_token": owner.refresh_token},
            headers=owner.headers,
        )
        assert answer.status_code in (200, 204), answer.text
        for ws in (on_a, on_b):
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(5 * UNIT):
                    while True:
                        await ws.recv()
            assert ws.close_code == 4401


def test_limits_count_requests_on_every_process(cluster: Cluster) -> None:
    """A per-address limit of 4 new chat sessions a minute holds across processes."""
    a, b = cluster(OMNICHAT_LIMITS_SESSIONS_PER_MINUTE_PER_IP="4")
    address = {"X-Forwarded-For": "10.9.8.7"}
    site_key = query(a, "SELECT site_key FROM sites ORDER BY id LIMIT 1")[0]["site_key"]
    answers = [
        process.http.post(
            "/api/v1/widget/session", json={"site_key": site_key}, headers=address
        ).status_code
        for process in (a, b, a, b, a)
    ]
    assert answers == [200, 200, 200, 200, 429]
