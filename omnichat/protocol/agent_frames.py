"""Parsing the frames an agent's socket sends: no I/O, so it is tested without a server."""

from __future__ import annotations

from dataclasses import dataclass

from omnichat.protocol.frames import FrameError, decode, non_negative_int, unknown


@dataclass(frozen=True)
class Hello:
    token: str
    # None: live from now, no replay.
    last_event_id: int | None
    # Also send colleagues' presence frames (the admin page asks; other clients need not).
    presence: bool = False


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


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise FrameError(f"{field} must be true or false", code="invalid_field")
    return value


def parse(text: str | bytes) -> Frame:
    """One frame from its JSON text; raises `FrameError` saying what is wrong."""
    data = decode(text)
    kind = data.get("type")
    if kind == "typing":
        return Typing(
            non_negative_int(data.get("conversation_id"), "conversation_id"),
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
        return Hello(
            token,
            None if last is None else non_negative_int(last, "last_event_id"),
            _flag(data.get("presence", False), "presence"),
        )
    raise unknown(kind)
