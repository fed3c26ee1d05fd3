"""Presence across processes: two Redis hubs on one real redis-server stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from omnichat.accounts.presence import topic
from omnichat.accounts.redis_presence import RedisPresence
from omnichat.protocol.hub import Subscriber
from omnichat.protocol.redis_hub import RedisHub
from tests.engines import RedisServer
from tests.test_redis_hub import kill
from tests.timing import UNIT, eventually_async

TENANT, ANN, BOB = 1, 10, 11


@dataclass
class Process:
    hub: RedisHub
    presence: RedisPresence


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Process, Process]]:
    server = RedisServer(tmp_path / "redis").start()
    hubs = [RedisHub(server.url(), heartbeat=0.2) for _ in range(2)]
    for hub in hubs:
        await hub.start()
    for hub in hubs:
        await asyncio.wait_for(hub.connected.wait(), 5 * UNIT)
    yield Process(hubs[0], RedisPresence(hubs[0])), Process(hubs[1], RedisPresence(hubs[1]))
    for hub in hubs:
        await hub.stop()
    server.stop()


async def next_frame(subscriber: Subscriber) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(subscriber.next(), 5 * UNIT))
    return frame


async def test_an_agent_on_one_process_is_connected_for_the_other(
    pair: tuple[Process, Process],
) -> None:
    """A socket opened on B makes the user connected (and online for A's team); closed, not."""
    (a_hub, a), (_, b) = ((p.hub, p.presence) for p in pair)
    async with a_hub.join(topic(TENANT)) as team:
        b.opened(TENANT, ANN, "online")
        assert await next_frame(team) == {
            "type": "presence",
            "user_id": ANN,
            "availability": "online",
            "online": True,
        }
        assert a.connected(ANN) and a.connected_in(TENANT) == {ANN}
        assert a.connected_in(TENANT + 1) == frozenset()
        b.closed(TENANT, ANN)
        assert (await next_frame(team))["online"] is False
        assert not a.connected(ANN) and a.connected_in(TENANT) == frozenset()


async def test_the_last_socket_anywhere_makes_a_user_offline(
    pair: tuple[Process, Process],
) -> None:
    """With sockets on both processes, closing the one on B leaves the user online."""
    (a_hub, a), (_, b) = ((p.hub, p.presence) for p in pair)
    async with a_hub.join(topic(TENANT)) as team:
        a.opened(TENANT, BOB, "online")
        assert (await next_frame(team))["online"] is True
        b.opened(TENANT, BOB, "online")
        assert (await next_frame(team))["online"] is True
        b.closed(TENANT, BOB)
        assert (await next_frame(team))["online"] is True
        await eventually_async(lambda: b.connected(BOB), what="B to see A's socket")
        a.closed(TENANT, BOB)
        assert (await next_frame(team))["online"] is False


async def test_a_killed_process_s_agents_go_offline(
    pair: tuple[Process, Process],
) -> None:
    """When a process dies with a socket open, the other tells its agents within heartbeats."""
    (a_hub, a), (b_hub, b) = ((p.hub, p.presence) for p in pair)
    async with a_hub.join(topic(TENANT)) as team:
        b.opened(TENANT, ANN, "online")
        assert (await next_frame(team))["online"] is True
        await kill(b_hub)  # the socket is never closed
        frame = await asyncio.wait_for(next_frame(team), 5 * UNIT)
        assert frame == {
            "type": "presence",
            "user_id": ANN,
            "availability": "online",
            "online": False,
        }
        assert not a.connected(ANN)
