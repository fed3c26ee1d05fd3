"""Timeouts in a scaled unit, and waiting for a condition by polling it (never a bare sleep)."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Callable
from typing import Any

# Timeouts are multiples of this unit, so a slower machine can scale them all at once.
UNIT = float(os.environ.get("OMNICHAT_TEST_TIME_UNIT", "1"))
INTERVAL = 0.02


def _describe(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


def eventually(
    check: Callable[[], Any],
    timeout: float = 10 * UNIT,
    what: str | Callable[[], str] = "the condition",
) -> Any:
    """Call `check` until it returns something truthy, and return that; fail naming `what`
    (a text, or a function giving one at the time) when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {_describe(what)}")
        time.sleep(INTERVAL)


async def eventually_async(
    check: Callable[[], Any],
    timeout: float = 10 * UNIT,
    what: str | Callable[[], str] = "the condition",
) -> Any:
    """`eventually` for async tests: `check` may return an awaitable, and the wait yields to
    the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {_describe(what)}")
        await asyncio.sleep(INTERVAL)
