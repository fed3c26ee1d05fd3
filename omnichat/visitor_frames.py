"""Parsing the frames a visitor's socket sends: no I/O, so it is tested without a server."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from omnichat.errors import Invalid, OmnichatError
from omnichat.messages import clean_client_id, clean_text


@dataclass(frozen=True)
class Hello:
    token: str
    last_seq: int


@dataclass(frozen=True)
class Send:
    client_id: str
    text: str


@dataclass(frozen=True)
class Typing:
    on: bool


@dataclass(frozen=True)
class Seen:
    seq: int


@dataclass(frozen=True)
class Ping:
    pass


Frame = Hello | Send | Typing | Seen | Ping


class FrameError(OmnichatError):
    """A frame the server cannot use; answered with an error frame, the socket stays open."""

    def __init__(self, message: str, *, code: str, client_id: str | None = None) -> None:
        super().__init__(message, code=code)
        self.client_id = client_id


def _non_negative_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError(f"{field} must be a non-negative integer", code="invalid_field")
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
    if kind == "message":
        try:
            client_id = clean_client_id(data.get("client_id")) or ""
        except Invalid as exc:
            raise FrameError(exc.message, code=exc.code) from None
        try:
            return Send(client_id, clean_text(data.get("text")))
        except Invalid as exc:
            # Naming the client id lets the widget mark that one message as refused.
            raise FrameError(exc.message, code=exc.code, client_id=client_id) from None
    if kind == "typing":
        return Typing(bool(data.get("on")))
    if kind == "seen":
        return Seen(_non_negative_int(data.get("seq"), "seq"))
    if kind == "ping":
        return Ping()
    if kind == "hello":
        token = data.get("token")
        if not isinstance(token, str):
            raise FrameError("hello needs a token", code="invalid_field")
        return Hello(token, _non_negative_int(data.get("last_seq", 0), "last_seq"))
    raise FrameError(f"unknown frame type {str(kind)[:40]!r}", code="unknown_type")


def error_frame(exc: OmnichatError) -> str:
    frame: dict[str, object] = {"type": "error", "code": exc.code, "message": exc.message}
    client_id = getattr(exc, "client_id", None)
    if client_id is not None:
        frame["client_id"] = client_id
    return orjson.dumps(frame).decode()
