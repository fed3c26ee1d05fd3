"""What the visitor and agent socket protocols share: decoding a frame and answering errors."""

from __future__ import annotations

from typing import Any

import orjson

from omnichat.errors import OmnichatError
from omnichat.ids import MAX_ID, whole_number


class FrameError(OmnichatError):
    """A frame the server cannot use; answered with an error frame, the socket stays open."""

    def __init__(self, message: str, *, code: str, client_id: str | None = None) -> None:
        super().__init__(message, code=code)
        self.client_id = client_id


def decode(text: str | bytes) -> dict[str, Any]:
    """A frame's JSON object; `FrameError` when it is not JSON or not an object."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError("frame is not valid JSON", code="malformed_json") from None
    if not isinstance(data, dict):
        raise FrameError("frame must be a JSON object", code="malformed_json")
    return data


def non_negative_int(value: object, field: str) -> int:
    """A seq or id: past SQLite's 64-bit integers it could not even be looked up."""
    number = whole_number(value, 0)
    if number is None:
        raise FrameError(f"{field} must be a whole number from 0 to {MAX_ID}", code="invalid_field")
    return number


def unknown(kind: object) -> FrameError:
    return FrameError(f"unknown frame type {str(kind)[:40]!r}", code="unknown_type")


def error_frame(exc: OmnichatError) -> str:
    """`{"type":"error","code","message"}`, with the client id when the error is about one."""
    frame: dict[str, object] = {"type": "error", "code": exc.code, "message": exc.message}
    client_id = getattr(exc, "client_id", None)
    if client_id is not None:
        frame["client_id"] = client_id
    return orjson.dumps(frame).decode()
