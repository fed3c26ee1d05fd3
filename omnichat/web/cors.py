"""CORS for the widget API, which customers' pages call from their own origins.

A preflight does not say which site it is for, so it is answered for origins some site allows.
A real request is checked against its own site by the handler (403 otherwise), so its answer
carries the CORS headers whatever the origin: reading every site's origins again on each request
would add nothing, since no answer with a visitor's data is made for a refused origin. Visitor
credentials travel in the Authorization header, never in cookies.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnichat.sites import origin_allowed_anywhere
from omnichat.web.context import Context
from omnichat.web.responses import error_response

ALLOW_METHODS = b"GET, POST, OPTIONS"
ALLOW_HEADERS = b"Authorization, Content-Type"
MAX_AGE = b"600"


class WidgetCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        cors = [
            (b"access-control-allow-origin", origin.encode()),
            (b"vary", b"Origin"),
            # The widget backs off by it after a 429.
            (b"access-control-expose-headers", b"Retry-After"),
        ]
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            ctx: Context = scope["state"]["ctx"]
            if not await origin_allowed_anywhere(ctx.db, origin, ctx.settings.production):
                response = error_response(
                    403, "origin_not_allowed", "This origin is not allowed to use the widget."
                )
                await response(scope, receive, send)
                return
            preflight = [
                (b"access-control-allow-methods", ALLOW_METHODS),
                (b"access-control-allow-headers", ALLOW_HEADERS),
                (b"access-control-max-age", MAX_AGE),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": cors + preflight})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
