"""Pure ASGI middleware: request ids, request logs and metrics, a last-resort 500, headers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnichat import logs
from omnichat.metrics import Metrics
from omnichat.web.responses import error_response

log = logging.getLogger("omnichat.http")
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# nginx's status for "the client closed the request": logged, never sent (no one is listening).
CLIENT_CLOSED = 499

# Our pages load only our own scripts and styles; nothing inline, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if SANE_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContext:
    """Gives each request an id, logs one line for it, counts it, and turns a crash into a 500.

    A client that leaves mid-request is no crash: its line is logged at debug with status 499
    and counted in `omnichat_http_client_disconnects_total`, not among the requests answered.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = logs.request_id.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                # A served file sets its own, stricter policy (`attachments_api`).
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        # A socket's frames need nothing added: only HTTP answers go through the wrapper.
        outgoing = send_with_id if scope["type"] == "http" else send
        try:
            await self.app(scope, receive, outgoing)
        except ClientDisconnect:
            # The client left before its body arrived (or its body deadline passed): nothing
            # failed here. Five truncated bodies once made five tracebacks and five 500s.
            status = status or CLIENT_CLOSED
        except Exception:
            log.exception("unhandled error", extra={"fields": {"path": scope["path"]}})
            if scope["type"] == "http" and status == 0:
                response = error_response(
                    500, "internal_error", f"Something went wrong (request id {request_id})."
                )
                await response(scope, receive, send_with_id)
            status = status or 500
        finally:
            self._record(scope, status, time.perf_counter() - started)
            logs.request_id.reset(token)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route: Any = scope.get("route")
        # Inside a Mount the route's path is relative; the mount's prefix is the root path.
        path = getattr(route, "path", None)
        template = scope.get("root_path", "") + path if path else "unmatched"
        method = scope.get("method", "WS")
        fields = {
            "method": method,
            "path": scope["path"],
            "route": template,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        }
        if status == CLIENT_CLOSED:
            log.debug("request abandoned by the client", extra={"fields": fields})
            self.metrics.http_client_disconnects.labels(template).inc()
            return
        log.info("request" if scope["type"] == "http" else "websocket", extra={"fields": fields})
        if scope["type"] == "http":
            self.metrics.http_requests.labels(template, method, str(status)).inc()
            self.metrics.http_latency.labels(template, method).observe(elapsed)
