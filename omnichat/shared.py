"""What the processes of one installation share: live frames, who is online, the limits.

By default they live in this process (the hub, `Presence`, the in-memory limits and throttles);
with `hub.redis_url` they live in Redis, so any number of processes on PostgreSQL act as one: a
frame committed on one reaches sockets on all, presence counts every process's sockets, and a
limit counts every process's requests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis.asyncio import Redis

from omnichat.accounts.links import Forgetting, ForgotThrottle
from omnichat.accounts.presence import Presence
from omnichat.accounts.redis_presence import RedisPresence
from omnichat.accounts.throttle import LoginThrottle, Throttle
from omnichat.errors import StartupError
from omnichat.protocol.hub import Hub
from omnichat.protocol.redis_hub import RedisHub
from omnichat.ratelimit import VisitorLimits
from omnichat.redis_limits import RedisForgotThrottle, RedisLoginThrottle, shared_visitor_limits
from omnichat.settings import Settings

CONNECT_SECONDS = 10.0


def make_hub(settings: Settings) -> Hub:
    """The hub for this process (built before the event loop runs: `serve` needs it early)."""
    url = str(settings.hub.redis_url)
    return RedisHub(url) if url else Hub()


@dataclass
class Shared:
    hub: Hub
    presence: Presence
    limits: VisitorLimits
    logins: Throttle
    forgot: Forgetting
    redis: Redis | None = None

    async def close(self) -> None:
        """After the last commit: frames still queued go out, then the connections close."""
        if isinstance(self.hub, RedisHub):
            await self.hub.stop()
        if self.redis is not None:
            await self.redis.aclose()


async def start(settings: Settings, hub: Hub) -> Shared:
    limits = settings.limits
    if not isinstance(hub, RedisHub):
        return Shared(
            hub,
            Presence(hub),
            VisitorLimits.from_settings(limits),
            LoginThrottle(limits.logins_per_minute_per_ip),
            ForgotThrottle(),
        )
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), CONNECT_SECONDS)
    except TimeoutError:
        await hub.stop(flush_seconds=0)
        raise StartupError("hub.redis_url: Redis cannot be reached") from None
    redis = Redis.from_url(str(settings.hub.redis_url))
    return Shared(
        hub,
        RedisPresence(hub),
        shared_visitor_limits(limits, redis, hub.process_id),
        RedisLoginThrottle(redis, limits.logins_per_minute_per_ip),
        RedisForgotThrottle(redis),
        redis,
    )
