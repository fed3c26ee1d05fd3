"""Parsing the frames an agent's socket sends: no I/O, so it is tested without a server."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from omnichat.visitor_frames import FrameError


@dataclass(frozen=True)
class Hello:
    token: str
    # None: live from now, no replay.
    last_event_id: int | None


@dataclass(frozen=True)
class Typing:
    conversation_id: int
    on: bool
    # Typing a private note: other agents are told, the visitor is not.
    private: bool


@dataclass(frozen=True)
class Ping:
    pass


Frame = Hello | Typing | Ping


def _id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError(f"{field} must be a non-negative integer", code="invalid_field")
    return value


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise FrameError(f"{field} must be true or false", code="invalid_field")
    return value


def parse(text: str | bytes) -> Frame:
    """One frame from its JSON text; raises `FrameError` saying what is wrong."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError("frame is not valid JSON", code="malformed_json") from None
    if not isinstance(data, dict):
        raise FrameError("frame must be a JSON object", code="malformed_json")
    kind = data.get("type")
    if kind == "typing":
        return Typing(
            _id(data.get("conversation_id"), "conversation_id"),
            _flag(data.get("on"), "on"),
            _flag(data.get("private", False), "private"),
        )
    if kind == "ping":
        return Ping()
    if kind == "hello":
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise FrameError("hello needs a token", code="invalid_field")
        last = data.get("last_event_id")
        return Hello(token, None if last is None else _id(last, "last_event_id"))
    raise FrameError(f"unknown frame type {str(kind)[:40]!r}", code="unknown_type")
