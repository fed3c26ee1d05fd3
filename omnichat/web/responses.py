"""JSON in and out, and the contract's error envelope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

import orjson
from starlette.requests import Request
from starlette.responses import Response

from omnichat.errors import BadRequest, Invalid, NotFound, OmnichatError, RateLimited, TooLarge
from omnichat.ids import MAX_ID, digits

# Never stored by browsers or proxies: for every JSON answer, and for downloads (exports,
# backups) that must carry it themselves.
NO_STORE = {"Cache-Control": "no-store"}


class JSONResponse(Response):
    """A JSON answer, never stored by a browser or proxy unless the caller says otherwise.

    Our JSON answers are for one caller (a staff member's data, a visitor's token and messages)
    or describe this instant; a shared or back-button cache must keep none of them. Defaulting
    here covers every endpoint, today's and tomorrow's, and the error envelope.
    """

    media_type = "application/json"

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(content, status_code, {**NO_STORE, **(headers or {})})

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def from_error(exc: OmnichatError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
    return error_response(exc.status, exc.code, exc.message, **headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
    return bytes(body)


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or `BadRequest` saying what is wrong with it."""
    body = await read_body(request, request.state.ctx.settings.server.max_body_bytes)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", code="malformed_json")
    return data


async def read_optional_json(request: Request) -> dict[str, Any]:
    """Like `read_json` for endpoints whose body is optional: no body at all reads as `{}`."""
    has_body = request.headers.get("content-length", "0") != "0"
    if has_body or "transfer-encoding" in request.headers:
        return await read_json(request)
    return {}


def path_id(request: Request, name: str = "id") -> int:
    """The integer path parameter `name`; an id too large to exist in the database is 404."""
    value: int = request.path_params[name]
    if value > MAX_ID:
        raise NotFound("no such resource")
    return value


@overload
def query_int(request: Request, name: str, default: int, low: int, high: int) -> int: ...
@overload
def query_int(request: Request, name: str, default: None, low: int, high: int) -> int | None: ...
def query_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    """Query parameter `name` as a whole number in [low, high]; 422 naming it otherwise.

    ASCII digits only (`ids.digits`).
    """
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    number = digits(raw, low, high)
    if number is None:
        raise Invalid(name, f"must be a whole number from {low} to {high}")
    return number
