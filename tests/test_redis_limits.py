"""Limits and login throttles in Redis: two clients on one real redis-server stand for two
processes, and what one counts the other sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from omnichat.accounts import throttle
from omnichat.errors import RateLimited
from omnichat.protocol.redis_hub import PROCESSES_KEY
from omnichat.redis_limits import (
    RedisBucket,
    RedisConcurrent,
    RedisForgotThrottle,
    RedisLoginThrottle,
)
from tests.engines import RedisServer


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[tuple[Redis, Redis]]:
    server = RedisServer(tmp_path / "redis").start()
    a, b = Redis.from_url(server.url()), Redis.from_url(server.url())
    yield a, b
    for client in (a, b):
        await client.aclose()
    server.stop()


async def alive(redis: Redis, *process_ids: str) -> None:
    """Heartbeat as the Redis hub of each process would."""
    now, _ = await redis.time()
    await redis.zadd(PROCESSES_KEY, dict.fromkeys(process_ids, now))


async def test_a_minute_s_budget_is_shared_by_two_processes(clients: tuple[Redis, Redis]) -> None:
    """60 per minute across both: the 61st, on either, is refused with a retry time."""
    a, b = (RedisBucket(client, 60, "messages", "ip-messages") for client in clients)
    for n in range(60):
        await (a if n % 2 else b).take("203.0.113.1")
    for bucket in (a, b):
        with pytest.raises(RateLimited) as refused:
            await bucket.take("203.0.113.1")
        assert refused.value.retry_after == 1
    await a.take("203.0.113.2")  # another address has its own budget


async def test_a_zero_budget_is_unlimited(clients: tuple[Redis, Redis]) -> None:
    """per_minute 0 turns the limit off."""
    bucket = RedisBucket(clients[0], 0, "messages", "off")
    for _ in range(200):
        await bucket.take("x")


async def test_open_sockets_per_address_count_across_processes(
    clients: tuple[Redis, Redis],
) -> None:
    """Three sockets allowed per address across both processes; closing one frees a place."""
    await alive(clients[0], "pa", "pb")
    a, b = RedisConcurrent(clients[0], 3, "pa"), RedisConcurrent(clients[1], 3, "pb")
    assert await a.acquire("ip") and await b.acquire("ip") and await a.acquire("ip")
    assert not await b.acquire("ip")
    assert not await a.acquire("ip")
    await a.release("ip")
    assert await b.acquire("ip")
    assert await a.acquire("other")


async def test_a_dead_process_s_sockets_stop_counting(clients: tuple[Redis, Redis]) -> None:
    """Sockets held by a process that stopped heartbeating do not count against the address."""
    await alive(clients[0], "pa", "pb")
    a, b = RedisConcurrent(clients[0], 2, "pa"), RedisConcurrent(clients[1], 2, "pb")
    assert await a.acquire("ip") and await a.acquire("ip")
    assert not await b.acquire("ip")
    await clients[0].zrem(PROCESSES_KEY, "pa")  # pa died long ago
    assert await b.acquire("ip")


async def test_failed_sign_ins_per_address_count_across_processes(
    clients: tuple[Redis, Redis],
) -> None:
    """An address's failures on both processes add up to its per-minute limit."""
    a, b = (RedisLoginThrottle(client, 10) for client in clients)
    for n in range(10):
        await (a if n % 2 else b).attempt(f"user{n}@example.com", "198.51.100.7")
    with pytest.raises(RateLimited) as refused:
        await a.attempt("another@example.com", "198.51.100.7")
    assert "Too many failed sign-ins" in refused.value.message
    await b.attempt("user0@example.com", "198.51.100.8")


async def test_an_account_and_address_pair_waits_after_free_failures(
    clients: tuple[Redis, Redis],
) -> None:
    """After the free failures on one process the pair must wait on the other too; a success
    on either clears the pair."""
    a, b = (RedisLoginThrottle(client, 0) for client in clients)
    for _ in range(throttle.PAIR_FREE_FAILURES):
        await a.attempt("Ann@Example.com", "192.0.2.1")
    with pytest.raises(RateLimited):
        await b.attempt("ann@example.com", "192.0.2.1")
    await b.attempt("ann@example.com", "192.0.2.2")  # only the guesser's address waits
    await b.succeeded("ann@example.com", "192.0.2.2")


async def test_an_account_is_limited_from_all_addresses_but_its_trusted_ones(
    clients: tuple[Redis, Redis],
) -> None:
    """Failures spread over many addresses and both processes stop at the account limit; an
    address the account signed in from before still gets through."""
    a, b = (RedisLoginThrottle(client, 0) for client in clients)
    await a.attempt("bob@example.com", "10.0.0.1")
    await a.succeeded("bob@example.com", "10.0.0.1")
    for n in range(throttle.ACCOUNT_MAX_FAILURES):
        await (a if n % 2 else b).attempt("bob@example.com", f"10.1.0.{n}")
    with pytest.raises(RateLimited):
        await a.attempt("bob@example.com", "10.2.0.1")
    await b.attempt("bob@example.com", "10.0.0.1")


async def test_a_success_takes_its_failure_back(clients: tuple[Redis, Redis]) -> None:
    """Signing in successfully does not use up the address's budget."""
    a, b = (RedisLoginThrottle(client, 2) for client in clients)
    for _ in range(5):
        await a.attempt("carol@example.com", "192.0.2.9")
        await b.succeeded("carol@example.com", "192.0.2.9")
    await a.attempt("carol@example.com", "192.0.2.9")
    await b.attempt("dave@example.com", "192.0.2.9")
    with pytest.raises(RateLimited):
        await a.attempt("erin@example.com", "192.0.2.9")


async def test_password_reset_requests_per_address_count_across_processes(
    clients: tuple[Redis, Redis],
) -> None:
    """Three reset requests per address an hour, whichever process and address asks."""
    a, b = (RedisForgotThrottle(client) for client in clients)
    await a.check("ann@example.com", "192.0.2.1")
    await b.check("ann@example.com", "192.0.2.2")
    await a.check("ann@example.com", "192.0.2.3")
    with pytest.raises(RateLimited) as refused:
        await b.check("ann@example.com", "192.0.2.4")
    assert refused.value.retry_after > 3000
    await b.check("bob@example.com", "192.0.2.4")
