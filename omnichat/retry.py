"""Retry timing shared by every durable queue (SMS outbox, webhooks, notifications)."""

from __future__ import annotations

import random


def backoff(base: float, cap: float, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base`, capped at `cap`, with "equal
    jitter" (half fixed, half random) so rows that failed together do not retry together."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return float(delay / 2 + random.uniform(0, delay / 2))
