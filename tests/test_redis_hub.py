"""The Redis hub: two hubs on one real redis-server stand for two processes of one installation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from omnichat.protocol.hub import Closed, Subscriber
from omnichat.protocol.redis_hub import CLOSE_RESYNC, RedisHub
from tests.engines import RedisServer
from tests.timing import UNIT


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
async def hubs(redis_server: RedisServer) -> AsyncIterator[tuple[RedisHub, RedisHub]]:
    a, b = RedisHub(redis_server.url(), heartbeat=0.5), RedisHub(redis_server.url(), heartbeat=0.5)
    for hub in (a, b):
        await hub.start()
    await connected(a, b)
    yield a, b
    for hub in (a, b):
        await hub.stop()


async def connected(*hubs: RedisHub) -> None:
    await asyncio.wait_for(asyncio.gather(*(hub.connected.wait() for hub in hubs)), 5 * UNIT)


async def kill(hub: RedisHub) -> None:
    """End the hub's connection as a killed process would: without leaving the census."""
    task = hub._task
    assert task is not None
    task.cancel()
    await asyncio.wait([task])


async def drain(subscriber: Subscriber, count: int) -> list[str]:
    return [await asyncio.wait_for(subscriber.next(), 5 * UNIT) for _ in range(count)]


async def eventually(check: Callable[[], bool | Awaitable[bool]]) -> None:
    async def poll() -> None:
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 5 * UNIT)


async def test_frames_published_on_one_process_reach_the_other_in_order(
    hubs: tuple[RedisHub, RedisHub],
) -> None:
    """Many frames published on A reach B's subscriber, and A's own, in publishing order."""
    a, b = hubs
    async with b.join(("visitor", 1)) as remote, a.join(("visitor", 1)) as local:
        for n in range(500):
            a.publish(("visitor", 1), f"frame {n}", n + 1)
        expected = [f"frame {n}" for n in range(500)]
        assert await drain(remote, 500) == expected
        assert await drain(local, 500) == expected


async def test_only_joined_topics_are_delivered(hubs: tuple[RedisHub, RedisHub]) -> None:
    """A subscriber gets its topic's frames and no other topic's."""
    a, b = hubs
    async with b.join(("visitor", 1)) as one, b.join(("tenant", 1)) as tenant:
        a.publish(("visitor", 2), "not yours")
        a.publish(("tenant", 1), "team")
        a.publish(("visitor", 1), "yours")
        assert await drain(one, 1) == ["yours"]
        assert await drain(tenant, 1) == ["team"]
        assert one.pending == 0


async def test_sender_is_excluded_only_in_its_own_process(hubs: tuple[RedisHub, RedisHub]) -> None:
    """`exclude` skips the sending socket; the same-numbered subscriber elsewhere still gets it."""
    a, b = hubs
    async with (
        a.join(("tenant", 1)) as sender,
        a.join(("tenant", 1)) as colleague,
        b.join(("tenant", 1)) as remote,
    ):
        a.publish(("tenant", 1), "typing", exclude=sender)
        a.publish(("tenant", 1), "after")
        assert await drain(colleague, 2) == ["typing", "after"]
        assert await drain(remote, 2) == ["typing", "after"]
        assert await drain(sender, 1) == ["after"]


async def test_close_on_one_process_closes_sockets_on_every_process(
    hubs: tuple[RedisHub, RedisHub],
) -> None:
    """Closing a session's topic on A closes its subscribers on A and on B."""
    a, b = hubs
    async with (
        a.join(("session", 9)) as here,
        b.join(("session", 9)) as there,
        b.join(("session", 10)) as other,
    ):
        a.close(("session", 9), 4401, "signed out")
        for subscriber in (here, there):
            with pytest.raises(Closed) as closed:
                await drain(subscriber, 1)
            assert (closed.value.code, closed.value.reason) == (4401, "signed out")
        assert other.closed is None


async def test_listening_sees_visitors_on_other_processes(hubs: tuple[RedisHub, RedisHub]) -> None:
    """A knows a visitor has the chat open on B, and that they left; other kinds stay local."""
    a, b = hubs
    assert not a.listening(("visitor", 5))
    async with b.join(("visitor", 5)), b.join(("user", 5)):
        await eventually(lambda: a.listening(("visitor", 5)))
        assert b.listening(("visitor", 5))
        assert not a.listening(("user", 5))
    await eventually(lambda: not a.listening(("visitor", 5)))


async def test_listening_of_a_killed_process_vanishes(redis_server: RedisServer) -> None:
    """A process that stops heartbeating without leaving is forgotten within a few heartbeats."""
    a, b = RedisHub(redis_server.url(), heartbeat=0.2), RedisHub(redis_server.url(), heartbeat=0.2)
    await a.start()
    await b.start()
    await connected(a, b)
    try:
        async with b.join(("visitor", 3)):
            await eventually(lambda: a.listening(("visitor", 3)))
            await kill(b)
            await eventually(lambda: not a.listening(("visitor", 3)))
    finally:
        await a.stop()


async def test_losing_redis_closes_sockets_to_resync_and_joins_work_once_it_is_back(
    redis_server: RedisServer, hubs: tuple[RedisHub, RedisHub]
) -> None:
    """Redis going away closes every socket with the resync code; back on the same port, sockets
    that joined meanwhile are closed to resync too, and new joins get frames again."""
    a, b = hubs
    async with b.join(("visitor", 1)) as before:
        redis_server.stop()
        with pytest.raises(Closed) as closed:
            await drain(before, 1)
        assert closed.value.code == CLOSE_RESYNC
    await eventually(lambda: not a.connected.is_set() and not b.connected.is_set())
    async with b.join(("visitor", 1)) as meanwhile:
        redis_server.start()
        await connected(a, b)
        with pytest.raises(Closed) as closed:
            await drain(meanwhile, 1)
        assert closed.value.code == CLOSE_RESYNC
    async with b.join(("visitor", 1)) as after:
        a.publish(("visitor", 1), "back")
        assert await drain(after, 1) == ["back"]


async def test_leaving_unsubscribes_and_rejoining_subscribes_again(
    hubs: tuple[RedisHub, RedisHub],
) -> None:
    """After the last local subscriber leaves a topic, a new join on it receives frames again."""
    a, b = hubs
    for round_ in range(3):
        async with b.join(("tenant", 4)) as agent:
            a.publish(("tenant", 4), f"round {round_}")
            assert await drain(agent, 1) == [f"round {round_}"]
