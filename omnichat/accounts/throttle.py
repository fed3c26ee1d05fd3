"""Login throttling, in memory (one process): slows guessing without letting anyone lock a user out.

Three rules, checked before a password is even looked at (and each allowed attempt counted as a
failure until it succeeds, so parallel guesses cannot race past them):
- per IP: at most `per_ip_per_minute` failed logins in a sliding minute (0 = no limit);
- per account and IP: after a few failures the pair waits 1, 2, 4... seconds (at most 5 minutes)
  between attempts; only the guesser's own address pays, so the real user elsewhere is unaffected;
- per account: at most `ACCOUNT_MAX_FAILURES` failures in `ACCOUNT_WINDOW` from all addresses,
  which stops a guesser spread over many addresses. Addresses the account signed in from
  recently skip this rule, so the attack cannot lock the real user out of their usual place, and
  a newcomer waits at most the window. Nothing is ever locked permanently.
A success clears the pair's count. Restarting the process forgets everything, which is fine: the
limits only need to make guessing slow.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from omnichat.errors import RateLimited

IP_WINDOW = 60.0
PAIR_FREE_FAILURES = 5
PAIR_MAX_DELAY = 300.0
# A pair whose last failure is this old starts again from zero.
PAIR_FORGET = 3600.0
ACCOUNT_WINDOW = 600.0
ACCOUNT_MAX_FAILURES = 20
TRUSTED_FOR = 30 * 86400.0
TRUSTED_PER_ACCOUNT = 20
SWEEP_EVERY = 1024


@dataclass
class _Pair:
    failures: int
    last: float


class Throttle(Protocol):
    """What sign-in needs of a throttle: `LoginThrottle` in this process,
    `redis_limits.RedisLoginThrottle` across processes."""

    async def attempt(self, account: str, ip: str) -> None: ...

    async def succeeded(self, account: str, ip: str) -> None: ...


class LoginThrottle:
    def __init__(self, per_ip_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_ip_per_minute = per_ip_per_minute
        self._clock = clock
        self._ip_failures: dict[str, deque[float]] = {}
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._account_failures: dict[str, deque[float]] = {}
        self._trusted: dict[str, dict[str, float]] = {}
        self._since_sweep = 0

    async def attempt(self, account: str, ip: str) -> None:
        """Raise `RateLimited` (with the seconds to wait) if this attempt must not be tried now.

        An allowed attempt counts as a failure at once, before its password is checked, so a
        burst of parallel guesses cannot all slip past the limits; `succeeded` takes it back.
        """
        now = self._clock()
        account = account.lower()
        self._check(account, ip, now)
        self._fail(account, ip, now)

    def _check(self, account: str, ip: str, now: float) -> None:
        recent = _trim(self._ip_failures.get(ip), now - IP_WINDOW)
        if self.per_ip_per_minute and len(recent) >= self.per_ip_per_minute:
            raise limited(recent[0] + IP_WINDOW - now)
        pair = self._pairs.get((account, ip))
        if pair is not None and pair.failures >= PAIR_FREE_FAILURES:
            delay = min(2.0 ** (pair.failures - PAIR_FREE_FAILURES), PAIR_MAX_DELAY)
            if now < pair.last + delay:
                raise limited(pair.last + delay - now)
        if not self._is_trusted(account, ip, now):
            failures = _trim(self._account_failures.get(account), now - ACCOUNT_WINDOW)
            if len(failures) >= ACCOUNT_MAX_FAILURES:
                raise limited(failures[0] + ACCOUNT_WINDOW - now)

    def _fail(self, account: str, ip: str, now: float) -> None:
        self._ip_failures.setdefault(ip, deque()).append(now)
        self._account_failures.setdefault(account, deque()).append(now)
        pair = self._pairs.get((account, ip))
        if pair is None or now - pair.last > PAIR_FORGET:
            pair = self._pairs[(account, ip)] = _Pair(0, now)
        pair.failures += 1
        pair.last = now
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self.sweep()

    async def succeeded(self, account: str, ip: str) -> None:
        """The attempt was not a wrong guess: take its failure back and trust the address."""
        now = self._clock()
        account = account.lower()
        for times in (self._ip_failures.get(ip), self._account_failures.get(account)):
            if times:
                times.pop()
        self._pairs.pop((account, ip), None)
        trusted = self._trusted.setdefault(account, {})
        trusted[ip] = now
        if len(trusted) > TRUSTED_PER_ACCOUNT:
            del trusted[min(trusted, key=trusted.__getitem__)]

    def sweep(self) -> None:
        """Forget what no rule can use any more, so memory stays bounded under attack."""
        now = self._clock()
        self._since_sweep = 0
        for windows, length in (
            (self._ip_failures, IP_WINDOW),
            (self._account_failures, ACCOUNT_WINDOW),
        ):
            for key in [k for k, times in windows.items() if not _trim(times, now - length)]:
                del windows[key]
        for pair_key in [k for k, pair in self._pairs.items() if now - pair.last > PAIR_FORGET]:
            del self._pairs[pair_key]
        for account, places in list(self._trusted.items()):
            for ip in [ip for ip, seen in places.items() if now - seen > TRUSTED_FOR]:
                del places[ip]
            if not places:
                del self._trusted[account]

    def __len__(self) -> int:
        """How many addresses, accounts and pairs are remembered (bounded by `sweep`)."""
        return (
            len(self._ip_failures)
            + len(self._pairs)
            + len(self._account_failures)
            + len(self._trusted)
        )

    def _is_trusted(self, account: str, ip: str, now: float) -> bool:
        seen = self._trusted.get(account, {}).get(ip)
        return seen is not None and now - seen <= TRUSTED_FOR


def _trim(times: deque[float] | None, oldest: float) -> deque[float]:
    if times is None:
        return deque()
    while times and times[0] <= oldest:
        times.popleft()
    return times


def limited(seconds: float) -> RateLimited:
    wait = max(1, int(seconds + 0.999))
    return RateLimited(f"Too many failed sign-ins; try again in {wait} seconds.", seconds)
