"""What every durable queue's sender shares (SMS outbox, webhooks, notifications): retry timing,
and the loop that runs passes over due rows, sleeping between them until woken."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from omnichat.protocol.hub import Closed, Hub, Topic

log = logging.getLogger("omnichat.retry")
IDLE_SECONDS = 1.0
Idle = Callable[[Coroutine[Any, Any, object]], Awaitable[None]]


def backoff(base: float, cap: float, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base`, capped at `cap`, with "equal
    jitter" (half fixed, half random) so rows that failed together do not retry together."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return float(delay / 2 + random.uniform(0, delay / 2))


async def run_passes(
    hub: Hub,
    topic: Topic,
    stopping: asyncio.Event,
    one_pass: Callable[[], Awaitable[bool]],
    idle: Idle,
    what: str,
) -> None:
    """Run `one_pass` until `stopping`: again at once while it finds work, else after `idle`
    (a wake-up published on `topic` when a row is queued, or the next due time)."""
    while not stopping.is_set():
        try:
            async with hub.join(topic, limit=10_000) as wakeups:
                while not stopping.is_set():
                    busy = await one_pass()
                    if not busy:
                        await idle(wakeups.next())
                    while wakeups.pending:
                        await wakeups.next()
        except Closed:
            continue  # too many wake-ups queued while we worked: listen afresh
        except Exception:
            log.exception("%s pass failed", what)
            await idle(asyncio.sleep(IDLE_SECONDS))


async def sleep_until(
    wakeup: Coroutine[Any, Any, object], stopping: asyncio.Event, seconds: float
) -> None:
    """Wait for `wakeup`, `stopping` or `seconds`, whichever comes first."""
    waiters = [asyncio.ensure_future(wakeup), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError, Closed):
                await waiter
