"""Login throttling rules, on a clock the test moves by hand: slow guessing, never a lockout."""

from __future__ import annotations

import pytest

from omnichat.accounts import throttle
from omnichat.accounts.throttle import LoginThrottle
from omnichat.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def fail(limits: LoginThrottle, account: str, ip: str, times: int) -> None:
    for _ in range(times):
        await limits.attempt(account, ip)


async def test_per_ip_limit_counts_failures_in_a_sliding_minute() -> None:
    """The IP's N+1th attempt in a minute is refused with the wait until the oldest ages out."""
    clock = Clock()
    limits = LoginThrottle(per_ip_per_minute=3, clock=clock)
    for index in range(3):
        await limits.attempt(f"user{index}@x.test", "1.1.1.1")
        clock.now += 10
    with pytest.raises(RateLimited) as refused:
        await limits.attempt("someone@x.test", "1.1.1.1")
    assert refused.value.retry_after == 30
    await limits.attempt("someone@x.test", "2.2.2.2")
    clock.now += 30.5
    await limits.attempt("someone@x.test", "1.1.1.1")


async def test_zero_turns_the_per_ip_limit_off() -> None:
    """With the setting at 0, many failures spread over accounts never trip the IP rule."""
    limits = LoginThrottle(per_ip_per_minute=0, clock=Clock())
    for index in range(100):
        await fail(limits, f"user{index}@x.test", "1.1.1.1", 1)


async def test_pair_delay_doubles_after_free_failures_and_success_clears_it() -> None:
    """After the free failures the account+IP pair waits 1, 2, 4 s; a success starts over."""
    clock = Clock()
    limits = LoginThrottle(per_ip_per_minute=0, clock=clock)
    await fail(limits, "a@x.test", "1.1.1.1", throttle.PAIR_FREE_FAILURES)
    for delay in (1, 2, 4):
        with pytest.raises(RateLimited) as refused:
            await limits.attempt("a@x.test", "1.1.1.1")
        assert refused.value.retry_after == delay
        clock.now += delay
        await fail(limits, "a@x.test", "1.1.1.1", 1)
    await limits.attempt("A@X.test", "9.9.9.9")  # the same account from elsewhere is not delayed
    clock.now += 8
    await limits.attempt("a@x.test", "1.1.1.1")
    await limits.succeeded("a@x.test", "1.1.1.1")
    await fail(limits, "a@x.test", "1.1.1.1", throttle.PAIR_FREE_FAILURES)


async def test_pair_delay_is_capped() -> None:
    """However many failures, a pair never waits more than the cap."""
    clock = Clock()
    limits = LoginThrottle(per_ip_per_minute=0, clock=clock)
    for _ in range(40):
        clock.now += throttle.PAIR_MAX_DELAY
        await fail(limits, "a@x.test", "1.1.1.1", 1)
    with pytest.raises(RateLimited) as refused:
        await limits.attempt("a@x.test", "1.1.1.1")
    assert refused.value.retry_after == throttle.PAIR_MAX_DELAY


async def test_account_cap_spares_addresses_that_signed_in_before() -> None:
    """A guesser spread over many IPs blocks new addresses for one window, never the usual one."""
    clock = Clock()
    limits = LoginThrottle(per_ip_per_minute=0, clock=clock)
    await limits.attempt("a@x.test", "home")
    await limits.succeeded("a@x.test", "home")
    for index in range(throttle.ACCOUNT_MAX_FAILURES):
        await fail(limits, "a@x.test", f"10.0.0.{index}", 1)
    with pytest.raises(RateLimited) as refused:
        await limits.attempt("a@x.test", "hotel")
    assert refused.value.retry_after <= throttle.ACCOUNT_WINDOW
    await limits.attempt("a@x.test", "home")
    await limits.attempt("b@x.test", "hotel")
    clock.now += throttle.ACCOUNT_WINDOW
    await limits.attempt("a@x.test", "hotel")


async def test_sweep_forgets_stale_state() -> None:
    """After every rule's window has passed, a sweep leaves nothing behind."""
    clock = Clock()
    limits = LoginThrottle(per_ip_per_minute=5, clock=clock)
    for index in range(50):
        await fail(limits, f"user{index}@x.test", f"ip{index}", 1)
    await limits.succeeded("user1@x.test", "ip1")
    limits.sweep()
    assert len(limits) > 0
    clock.now += max(throttle.PAIR_FORGET, throttle.TRUSTED_FOR) + 1
    limits.sweep()
    assert len(limits) == 0


async def test_attempts_count_before_their_outcome_and_successes_are_refunded() -> None:
    """Attempts still being checked already count (a parallel burst cannot slip past), while
    attempts that succeed are taken back, so many successful sign-ins from one address pass."""
    limits = LoginThrottle(per_ip_per_minute=3, clock=Clock())
    for index in range(10):
        await limits.attempt(f"user{index}@x.test", "office")
        await limits.succeeded(f"user{index}@x.test", "office")
    for index in range(3):
        await limits.attempt(f"burst{index}@x.test", "botnet")
    with pytest.raises(RateLimited):
        await limits.attempt("burst3@x.test", "botnet")
