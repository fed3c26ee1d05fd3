"""uvicorn's h11 and WebSocket protocols, with the limits uvicorn leaves out.

uvicorn (h11) times out nothing but an idle keep-alive connection after a response: a client that
connects and sends nothing, half a request head or half a body held its connection for as long
as it liked. And h11 bounds a request head only while it is incomplete, so a 100 KB head sent in
one write was served. Here each connection is admitted by `ConnectionCounts` (or answered 429/503
and closed) and, while it owes us a request, has a deadline:

- the head must arrive whole within `server.header_timeout_seconds` of the connection opening or
  of its first byte after a keep-alive pause (else 408 and close; silence is simply closed);
- the body must arrive whole within `server.body_timeout_seconds` of the head (else close: the
  app sees the client leave);
- a head over 16 KiB, however it arrives, is answered 431 and closed.

Between requests uvicorn's own keep-alive timeout (`server.keepalive_seconds`) applies. Canned
answers use the contract's error envelope; they are written straight to the socket because no
request (or no usable one) exists to answer through the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import orjson
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import Protocol
from websockets.streams import StreamReader

from omnichat.web.connections import PER_IP, ConnectionCounts

MAX_HEAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class Deadlines:
    head_seconds: float
    body_seconds: float


def canned(status: int, reason: str, code: str, message: str, *extra: str) -> bytes:
    """A whole HTTP/1.1 answer with the error envelope that closes the connection."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


TOO_MANY = canned(
    429,
    "Too Many Requests",
    "rate_limited",
    "Too many open connections from this address.",
    "retry-after: 5",
)
BUSY = canned(
    503,
    "Service Unavailable",
    "busy",
    "The server has too many open connections; try again shortly.",
    "retry-after: 5",
)
TIMEOUT = canned(408, "Request Timeout", "timeout", "The request did not arrive in time.")
HEAD_TOO_LARGE = canned(
    431,
    "Request Header Fields Too Large",
    "head_too_large",
    f"The request head is larger than {MAX_HEAD_BYTES // 1024} KiB.",
)
MALFORMED = canned(400, "Bad Request", "malformed", "The request is not valid HTTP/1.1.")


def head_size(event: h11.Request) -> int:
    """The head's size as sent, give or take the white space h11 trims around values."""
    line = len(event.method) + 1 + len(event.target) + len(b" HTTP/1.1\r\n")
    fields = sum(len(name) + len(value) + 4 for name, value in event.headers.raw_items())
    return line + fields + 2


class HeadLimitedConnection(h11.Connection):
    """h11's server side, refusing a head over `max_head_bytes` even when it arrived whole."""

    def __init__(self, max_head_bytes: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.max_head_bytes = max_head_bytes
        self.refusal: int | None = None  # the status the last protocol error asked for

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc.error_status_hint
            raise
        if isinstance(event, h11.Request) and head_size(event) > self.max_head_bytes:
            self.refusal = 431
            raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
        return event


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with admission, head and body deadlines and a head size limit."""

    counts: ClassVar[ConnectionCounts]
    deadlines: ClassVar[Deadlines]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = HeadLimitedConnection(MAX_HEAD_BYTES)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = ""
        self._upgraded = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        refused = self.counts.admit(transport, self.client[0] if self.client else "")
        if refused is not None:
            transport.write(TOO_MANY if refused == PER_IP else BUSY)
            transport.close()
            return
        self._arm("head", self.deadlines.head_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.counts.release(self.transport)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._upgraded:
            # This object is done, but lingers in reference cycles until the garbage collector's
            # oldest generation runs: drop the request it parsed now (~2 KB per open socket).
            del self.headers, self.scope, self.conn
            return
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        # From here the WebSocket protocol owns the connection (and the app's per-IP cap).
        self._disarm()
        self.counts.upgraded(self.transport)
        early = self.conn.trailing_data[0]
        super().handle_websocket_upgrade(event)
        self._upgraded = True
        # uvicorn hands the WebSocket protocol the request alone: frames a client sent without
        # waiting for our 101 would be lost, and its hello would time out.
        protocol = self.transport.get_protocol()
        if early and isinstance(protocol, asyncio.Protocol):
            protocol.data_received(early)

    def send_400_response(self, msg: str) -> None:
        too_large = isinstance(self.conn, HeadLimitedConnection) and self.conn.refusal == 431
        reason = "head_too_large" if too_large else "malformed"
        self.counts.metrics.http_connections_dropped.labels(reason).inc()
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(HEAD_TOO_LARGE if too_large else MALFORMED)
            self.transport.close()

    def _follow(self) -> None:
        """Set the deadline that fits what the client owes us now."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            # Between requests uvicorn's keep-alive timer runs until a byte arrives; from the
            # first byte of the next head, the head deadline does.
            if self._phase != "head" and self.conn.trailing_data[0]:
                self._arm("head", self.deadlines.head_seconds)
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self.deadlines.body_seconds)
        else:
            self._disarm()  # the request is in; the app has it

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, ""

    def _expired(self, phase: str) -> None:
        self._deadline, self._phase = None, ""
        if self.transport.is_closing():
            return
        if phase == "body":
            reason = "body_timeout"
        elif self.conn.trailing_data[0]:
            reason = "head_timeout"
            self.transport.write(TIMEOUT)
        else:
            reason = "idle"
        self.counts.metrics.http_connections_dropped.labels(reason).inc()
        self.transport.close()


class _Waiters:
    """Futures of coroutines waiting for something, allocated only while someone waits."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def _sleep(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class Flag(_Waiters):
    """`asyncio.Event`'s set, clear and wait, without the deque each Event holds."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        super().__init__()
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        self._wake()

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            await self._sleep()
        return True


class Inbox(_Waiters):
    """`asyncio.Queue`'s put_nowait, get and empty, without the three deques each Queue holds."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake()

    async def get(self) -> Any:
        while not self._items:
            await self._sleep()
        return self._items.pop(0)


def _waiting_for_a_frame(parser: Generator[None]) -> bool:
    """Whether the websockets parser sits between frames, having consumed nothing of the next."""
    inner: Any = parser
    while getattr(inner, "gi_yieldfrom", None) is not None:
        inner = inner.gi_yieldfrom
    return getattr(inner, "gi_code", None) is StreamReader.at_eof.__code__


class CountedWebSocketProtocol(WebSocketsSansIOProtocol):
    """The WebSocket protocol, giving the connection's place back when it closes, and holding
    as little as it can while idle: thousands of widget sockets sit open doing nothing.

    uvicorn's version keeps an `asyncio.Queue` and `Event` (four deques, ~3 KB) and, after the
    handshake, the parsed request and response (~4 KB) for the socket's whole life.
    """

    counts: ClassVar[ConnectionCounts]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.counts.release(self.transport)
        super().connection_lost(exc)

    async def send(self, message: ASGISendEvent) -> None:
        accepting = not self.handshake_complete
        await super().send(message)
        if accepting and self.handshake_complete:
            self._forget_handshake()

    def _forget_handshake(self) -> None:
        self.__dict__.pop("request", None)
        self.__dict__.pop("response", None)
        # The parser's generator frame still holds the request as a local. Between frames, a
        # fresh frame parser is the same parser without it (websockets swaps parsers likewise).
        if _waiting_for_a_frame(self.conn.parser):
            self.conn.parser = Protocol.parse(self.conn)
            next(self.conn.parser)


def protocol_classes(
    counts: ConnectionCounts, deadlines: Deadlines
) -> tuple[type[GuardedH11Protocol], type[CountedWebSocketProtocol]]:
    """The HTTP and WebSocket protocol classes to give uvicorn, sharing `counts`."""
    http = type(
        "OmnichatH11Protocol", (GuardedH11Protocol,), {"counts": counts, "deadlines": deadlines}
    )
    ws = type("OmnichatWebSocketProtocol", (CountedWebSocketProtocol,), {"counts": counts})
    return http, ws
