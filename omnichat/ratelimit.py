"""In-memory abuse limits: token buckets per key, and counters of concurrent sockets.

One process holds all sockets, so memory is the right place; a restart forgets the counts,
which only ever favours the client.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from omnichat.errors import RateLimited
from omnichat.settings import LimitsSettings

# Buckets untouched this long are full again and can be forgotten.
IDLE_SECONDS = 120.0
# Typing and seen frames a visitor may pass on per minute. Each one reaches every agent of the
# tenant and the widget sends a few per message, so more is a flood: dropped, not fanned out.
SIGNALS_PER_MINUTE = 120


class Bucket:
    """`per_minute` actions per key, refilled smoothly, with a burst of the same size; 0 = off."""

    def __init__(self, per_minute: int, what: str) -> None:
        self.per_minute = per_minute
        self.what = what
        self._state: dict[str, tuple[float, float]] = {}
        self._last_sweep = time.monotonic()

    async def take(self, key: str) -> None:
        """Spend one token for `key`, or raise `RateLimited` saying when to retry."""
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        rate = self.per_minute / 60.0
        tokens, stamp = self._state.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - stamp) * rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            raise RateLimited(f"too many {self.what}; slow down", (1.0 - tokens) / rate)
        self._state[key] = (tokens - 1.0, now)
        if now - self._last_sweep > IDLE_SECONDS:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for key, (_, stamp) in list(self._state.items()):
            if now - stamp > IDLE_SECONDS:
                del self._state[key]


class Concurrent:
    """At most `limit` open things (sockets) per key; 0 = unlimited."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: defaultdict[str, int] = defaultdict(int)

    async def acquire(self, key: str) -> bool:
        if self.limit and self._open[key] >= self.limit:
            return False
        self._open[key] += 1
        return True

    async def release(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]


class Tokens(Protocol):
    """A per-key rate: `Bucket` in this process, `redis_limits.RedisBucket` across processes."""

    async def take(self, key: str) -> None: ...


class Open(Protocol):
    """A per-key count of open things: `Concurrent`, or `redis_limits.RedisConcurrent`."""

    async def acquire(self, key: str) -> bool: ...

    async def release(self, key: str) -> None: ...


@dataclass(frozen=True)
class VisitorLimits:
    """The widget side's limits, from `[limits]` (`redis_limits.shared_visitor_limits` makes
    the same counted in Redis, across processes)."""

    sessions: Tokens
    messages_per_visitor: Tokens
    messages_per_ip: Tokens
    sockets: Open
    signals: Tokens

    @classmethod
    def from_settings(cls, limits: LimitsSettings) -> VisitorLimits:
        return cls(
            sessions=Bucket(limits.sessions_per_minute_per_ip, "new chat sessions"),
            messages_per_visitor=Bucket(limits.messages_per_minute_per_visitor, "messages"),
            messages_per_ip=Bucket(limits.messages_per_minute_per_ip, "messages"),
            sockets=Concurrent(limits.sockets_per_ip),
            signals=Bucket(SIGNALS_PER_MINUTE, "typing and seen frames"),
        )

    async def message(self, visitor_id: int, ip: str) -> None:
        """Count one message against the visitor and its address; raises when over."""
        await self.messages_per_visitor.take(str(visitor_id))
        await self.messages_per_ip.take(ip)

    async def signal(self, visitor_id: int) -> bool:
        """Whether the visitor may pass one more typing or seen frame on to staff now."""
        try:
            await self.signals.take(str(visitor_id))
        except RateLimited:
            return False
        return True
