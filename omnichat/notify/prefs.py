"""Which events reach a user by which channel: the User's `notify` object."""

from __future__ import annotations

from typing import Any

import orjson

from omnichat.errors import Invalid

EVENTS = ("new_conversation", "assigned", "escalated", "followup")
CHANNELS = ("push", "email")
# The contract's defaults: push for all four; email only for what needs a person soon.
DEFAULTS: dict[str, list[str]] = {
    "new_conversation": ["push"],
    "assigned": ["push"],
    "escalated": ["push", "email"],
    "followup": ["push", "email"],
}

Prefs = dict[str, list[str]]


def defaults() -> Prefs:
    return {event: list(channels) for event, channels in DEFAULTS.items()}


def load(text: str | None) -> Prefs:
    """Stored preferences over the defaults (NULL or an unknown key falls back)."""
    prefs = defaults()
    if text:
        stored = orjson.loads(text)
        for event in EVENTS:
            if isinstance(stored.get(event), list):
                prefs[event] = [c for c in CHANNELS if c in stored[event]]
    return prefs


def parse(value: Any, current: Prefs) -> Prefs:
    """A PATCH of `notify`: the events given replace theirs, the others keep their channels.
    `Invalid` names the first bad field (`notify.assigned`)."""
    if not isinstance(value, dict):
        raise Invalid("notify", "must be an object of events, each a list of channels")
    prefs = {event: list(channels) for event, channels in current.items()}
    for event, channels in value.items():
        if event not in EVENTS:
            raise Invalid(f"notify.{event}", f"is not an event; use {', '.join(EVENTS)}")
        if not isinstance(channels, list) or not all(c in CHANNELS for c in channels):
            raise Invalid(f"notify.{event}", f"must be a list of {' and '.join(CHANNELS)}")
        prefs[event] = [c for c in CHANNELS if c in channels]
    return prefs


def dump(prefs: Prefs) -> str:
    return orjson.dumps(prefs).decode()
