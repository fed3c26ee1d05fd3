"""Abuse limits and login throttling counted in Redis, shared by every process of an installation.

The same rules as `omnichat.ratelimit` and `omnichat.accounts.throttle`, each check one Lua
script so that processes racing on one key cannot both slip under a limit; the scripts read
Redis's clock, so the processes' clocks need not agree. The methods are async (they ask Redis).

If Redis cannot be reached the check lets the request through and logs it: these limits only
slow abuse down, and refusing every chat and sign-in while Redis restarts would be worse.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from omnichat.accounts import links, throttle
from omnichat.errors import RateLimited
from omnichat.protocol.redis_hub import PREFIX, PROCESSES_KEY
from omnichat.ratelimit import IDLE_SECONDS, SIGNALS_PER_MINUTE, VisitorLimits
from omnichat.settings import LimitsSettings

log = logging.getLogger("omnichat.limits")
ScriptArg = str | int | float

# A process whose heartbeat is older than this holds no sockets any more.
PROCESS_EXPIRY_SECONDS = 30
# Socket counts of an address untouched this long are forgotten (favouring the client).
SOCKETS_TTL_SECONDS = 86400

NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

# KEYS: the bucket. ARGV: per minute, idle seconds. Returns seconds to wait, "0" when taken.
TAKE = (
    NOW
    + """
local size = tonumber(ARGV[1])
local rate = size / 60
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or size
local stamp = tonumber(state[2]) or now
tokens = math.min(size, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return tostring(wait)
"""
)

# KEYS: the address's counts per process, the live processes. ARGV: limit, this process,
# process expiry, ttl. Counts of processes that stopped heartbeating are dropped first.
ACQUIRE = """
local now = tonumber(redis.call('TIME')[1])
local total = 0
local counts = redis.call('HGETALL', KEYS[1])
for i = 1, #counts, 2 do
  local seen = tonumber(redis.call('ZSCORE', KEYS[2], counts[i]))
  if counts[i] ~= ARGV[2] and (not seen or seen < now - tonumber(ARGV[3])) then
    redis.call('HDEL', KEYS[1], counts[i])
  else
    total = total + tonumber(counts[i + 1])
  end
end
if tonumber(ARGV[1]) > 0 and total >= tonumber(ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

RELEASE = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
"""

# KEYS: the address's failures, the account-and-address pair, the account's failures, the
# account's trusted addresses. ARGV: failures per minute per address, the address, a unique
# id for this failure, then the throttle's constants. Returns seconds to wait, "-1" if allowed
# (and counted as a failure until `succeeded`).
ATTEMPT = (
    NOW
    + """
local per_ip, ip, id = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local ip_window, free, max_delay = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local forget, account_window = tonumber(ARGV[7]), tonumber(ARGV[8])
local account_max, trusted_for = tonumber(ARGV[9]), tonumber(ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ip_window)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - account_window)
if per_ip > 0 and redis.call('ZCARD', KEYS[1]) >= per_ip then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(first[2]) + ip_window - now)
end
local pair = redis.call('HMGET', KEYS[2], 'failures', 'last')
local failures, last = tonumber(pair[1]) or 0, tonumber(pair[2]) or now
if failures >= free then
  local delay = math.min(2 ^ (failures - free), max_delay)
  if now < last + delay then return tostring(last + delay - now) end
end
local seen = tonumber(redis.call('HGET', KEYS[4], ip))
if not (seen and now - seen <= trusted_for) then
  if redis.call('ZCARD', KEYS[3]) >= account_max then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return tostring(tonumber(first[2]) + account_window - now)
  end
end
redis.call('ZADD', KEYS[1], now, id)
redis.call('EXPIRE', KEYS[1], math.ceil(ip_window))
redis.call('ZADD', KEYS[3], now, id)
redis.call('EXPIRE', KEYS[3], math.ceil(account_window))
if now - last > forget then failures = 0 end
redis.call('HSET', KEYS[2], 'failures', failures + 1, 'last', tostring(now))
redis.call('EXPIRE', KEYS[2], math.ceil(forget))
return '-1'
"""
)

# KEYS as for ATTEMPT. ARGV: the address, trusted seconds, trusted addresses per account.
SUCCEEDED = (
    NOW
    + """
redis.call('ZPOPMAX', KEYS[1])
redis.call('ZPOPMAX', KEYS[3])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[4], ARGV[1], tostring(now))
redis.call('EXPIRE', KEYS[4], math.ceil(tonumber(ARGV[2])))
local places = redis.call('HGETALL', KEYS[4])
if #places / 2 > tonumber(ARGV[3]) then
  local oldest, at = nil, nil
  for i = 1, #places, 2 do
    local seen = tonumber(places[i + 1])
    if at == nil or seen < at then oldest, at = places[i], seen end
  end
  redis.call('HDEL', KEYS[4], oldest)
end
"""
)


# KEYS: the window's stamps. ARGV: limit, window seconds, a unique id. Returns seconds to
# wait, "-1" when counted.
WINDOW = (
    NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(first[2]) + tonumber(ARGV[2]) - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return '-1'
"""
)


async def _run(call: Awaitable[Any], what: str) -> Any:
    """The script's answer, or None (let the request through) if Redis is unreachable."""
    try:
        return await call
    except RedisError as exc:
        log.warning("%s not checked, Redis unavailable: %s", what, exc)
        return None


class RedisBucket:
    """`Bucket` counted in Redis: `per_minute` actions per key, refilled smoothly; 0 = off."""

    def __init__(self, redis: Redis, per_minute: int, what: str, name: str) -> None:
        self.per_minute = per_minute
        self.what = what
        self._prefix = f"{PREFIX}:limit:{name}:"
        self._take = redis.register_script(TAKE)

    async def take(self, key: str) -> None:
        """Spend one token for `key`, or raise `RateLimited` saying when to retry."""
        if self.per_minute <= 0:
            return
        call = self._take(keys=[self._prefix + key], args=[self.per_minute, int(IDLE_SECONDS)])
        wait = await _run(call, self.what)
        if wait is not None and float(wait) > 0:
            raise RateLimited(f"too many {self.what}; slow down", float(wait))


class RedisConcurrent:
    """`Concurrent` counted in Redis: at most `limit` open sockets per key across processes.

    Counts are kept per process, and a process that stopped heartbeating (the Redis hub keeps
    `PROCESSES_KEY`) no longer counts, so a killed process does not lock its clients out."""

    def __init__(self, redis: Redis, limit: int, process_id: str) -> None:
        self.limit = limit
        self._process_id = process_id
        self._acquire = redis.register_script(ACQUIRE)
        self._release = redis.register_script(RELEASE)

    async def acquire(self, key: str) -> bool:
        args: list[ScriptArg] = [
            self.limit,
            self._process_id,
            PROCESS_EXPIRY_SECONDS,
            SOCKETS_TTL_SECONDS,
        ]
        call = self._acquire(keys=[self._key(key), PROCESSES_KEY], args=args)
        return bool(await _run(call, "sockets per address") != 0)

    async def release(self, key: str) -> None:
        await _run(self._release(keys=[self._key(key)], args=[self._process_id]), "sockets")

    @staticmethod
    def _key(key: str) -> str:
        return f"{PREFIX}:limit:sockets:{key}"


def shared_visitor_limits(limits: LimitsSettings, redis: Redis, process_id: str) -> VisitorLimits:
    """`VisitorLimits` counted in Redis, shared by every process."""
    return VisitorLimits(
        sessions=RedisBucket(
            redis, limits.sessions_per_minute_per_ip, "new chat sessions", "sessions"
        ),
        messages_per_visitor=RedisBucket(
            redis, limits.messages_per_minute_per_visitor, "messages", "visitor-messages"
        ),
        messages_per_ip=RedisBucket(
            redis, limits.messages_per_minute_per_ip, "messages", "ip-messages"
        ),
        sockets=RedisConcurrent(redis, limits.sockets_per_ip, process_id),
        signals=RedisBucket(redis, SIGNALS_PER_MINUTE, "typing and seen frames", "signals"),
    )


class RedisLoginThrottle:
    """`LoginThrottle`'s three rules (per address, per account and address, per account),
    counted in Redis across processes."""

    def __init__(self, redis: Redis, per_ip_per_minute: int) -> None:
        self.per_ip_per_minute = per_ip_per_minute
        self._attempt = redis.register_script(ATTEMPT)
        self._succeeded = redis.register_script(SUCCEEDED)

    async def attempt(self, account: str, ip: str) -> None:
        """Raise `RateLimited` if this attempt must not be tried now; else count it as a
        failure at once (so parallel guesses cannot slip past), until `succeeded`."""
        args: list[ScriptArg] = [
            self.per_ip_per_minute,
            ip,
            uuid.uuid4().hex,
            throttle.IP_WINDOW,
            throttle.PAIR_FREE_FAILURES,
            throttle.PAIR_MAX_DELAY,
            throttle.PAIR_FORGET,
            throttle.ACCOUNT_WINDOW,
            throttle.ACCOUNT_MAX_FAILURES,
            throttle.TRUSTED_FOR,
        ]
        wait = await _run(self._attempt(keys=_keys(account, ip), args=args), "sign-in throttle")
        if wait is not None and float(wait) >= 0:
            raise throttle.limited(float(wait))

    async def succeeded(self, account: str, ip: str) -> None:
        """The attempt was not a wrong guess: take its failure back and trust the address."""
        args: list[ScriptArg] = [ip, throttle.TRUSTED_FOR, throttle.TRUSTED_PER_ACCOUNT]
        await _run(self._succeeded(keys=_keys(account, ip), args=args), "sign-in throttle")


def _keys(account: str, ip: str) -> list[str]:
    account = account.lower()
    base = f"{PREFIX}:login:"
    return [
        f"{base}ip:{ip}",
        f"{base}pair:{len(account)}:{account}:{ip}",
        f"{base}account:{account}",
        f"{base}trusted:{account}",
    ]


class RedisForgotThrottle:
    """`links.ForgotThrottle` (password-reset requests per address and per IP) in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._take = redis.register_script(WINDOW)

    async def take(self, key: str, limit: int, window: float) -> None:
        call = self._take(keys=[f"{PREFIX}:forgot:{key}"], args=[limit, window, uuid.uuid4().hex])
        wait = await _run(call, "password reset throttle")
        if wait is not None and float(wait) >= 0:
            raise RateLimited("too many password reset requests; try later", float(wait))

    async def check(self, address: str, ip: str) -> None:
        await self.take(f"ip:{ip}", links.PER_IP, links.IP_WINDOW)
        await self.take(f"to:{address}", links.PER_ADDRESS, links.ADDRESS_WINDOW)
