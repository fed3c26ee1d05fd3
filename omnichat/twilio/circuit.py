"""A circuit breaker: after enough consecutive provider failures, stop calling for a while.

Closed: calls go through and failures are counted. Open: no calls until the pause is over.
Half-open: one trial call; success closes the circuit, failure opens it for another pause.
Pure and clock-injected, so it is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class Circuit:
    def __init__(
        self, failures: int, pause_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.pause_seconds = pause_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.pause_seconds:
            return "half_open"
        return "open"

    def seconds_until_trial(self) -> float:
        """How long calls stay paused (0 when one may be made now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.pause_seconds - self._clock())

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failed(self) -> None:
        """Count a provider failure; a failed trial, or one failure too many, opens the circuit."""
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.threshold:
            self._opened_at = self._clock()
