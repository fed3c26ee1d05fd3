"""Timestamps as the contract wants them: RFC 3339 UTC strings that also sort as text."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width `2026-01-02T03:04:05.678Z`, so stored times compare correctly as strings."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def now_iso() -> str:
    return iso(now())


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
