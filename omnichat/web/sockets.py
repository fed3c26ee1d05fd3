"""Plumbing the visitor and agent sockets share: the hello deadline, the pump and the listener.

A socket runs two tasks once greeted: `pump` sends what the hub queued for it, `listen` hands
each incoming frame to the endpoint's handler. Whichever stops first stops the other. A frame
the handler refuses is answered with an error frame and the socket stays open, up to a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from omnichat.errors import OmnichatError, RateLimited
from omnichat.protocol.frames import FrameError
from omnichat.protocol.hub import CLOSE_AUTH, Closed, Subscriber
from omnichat.web.context import Context, context
from omnichat.web.guard import client_ip

HELLO_TIMEOUT_SECONDS = 10
# A client that keeps sending frames we cannot use is broken or hostile; past this, close it.
MAX_BAD_FRAMES = 20
CLOSE_FORBIDDEN, CLOSE_RATE, CLOSE_POLICY = 4403, 4429, 1008

H = TypeVar("H")
Handler = Callable[[str | bytes], Awaitable[None]]
ErrorFrame = Callable[[OmnichatError], str]
Session = Callable[[Context, str], Awaitable[None]]


class Refused(Exception):
    """Close the socket with `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def run(websocket: WebSocket, kind: str, session: Session) -> None:
    """Accept a socket within the per-IP cap, count it, and run `session(ctx, ip)` on it.

    `Refused` from the session closes the socket with its code; a client leaving ends quietly.
    """
    ctx = context(websocket)
    ip = client_ip(websocket)
    await websocket.accept()
    if not await ctx.limits.sockets.acquire(ip):
        await websocket.close(CLOSE_RATE, "too many sockets from this address")
        return
    ctx.metrics.sockets_open.labels(kind).inc()
    try:
        await session(ctx, ip)
    except Refused as refused:
        await websocket.close(refused.code, refused.reason)
    except WebSocketDisconnect:
        pass
    finally:
        ctx.metrics.sockets_open.labels(kind).dec()
        await ctx.limits.sockets.release(ip)


async def receive_text(websocket: WebSocket) -> str | bytes:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message.get("text") or message.get("bytes") or b""


async def first_frame(websocket: WebSocket) -> str | bytes:
    """The client's first frame, which must come within the hello deadline (else 4401)."""
    try:
        return await asyncio.wait_for(receive_text(websocket), HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        raise Refused(CLOSE_AUTH, "no hello within 10 seconds") from None


async def hello(websocket: WebSocket, parse: Callable[[str | bytes], object], kind: type[H]) -> H:
    """The greeting both sockets start with: a first frame of type `kind` within the deadline,
    else the socket is refused with 4401."""
    first = await first_frame(websocket)
    try:
        frame = parse(first)
    except FrameError:
        frame = None
    if not isinstance(frame, kind):
        raise Refused(CLOSE_AUTH, "the first frame must be a hello with a token")
    return frame


def refused(exc: OmnichatError) -> Refused:
    """The close an authentication or authorisation failure means on a socket."""
    return Refused(exc.close_code, exc.message)


async def serve(
    websocket: WebSocket, subscriber: Subscriber, handle: Handler, error_frame: ErrorFrame
) -> None:
    """Pump live frames out and handle incoming ones until either side stops."""
    sender = asyncio.create_task(pump(websocket, subscriber))
    receiver = asyncio.create_task(listen(websocket, subscriber, handle, error_frame))
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
    for task in done:
        exc = task.exception()
        if isinstance(exc, Refused):
            raise exc


async def pump(websocket: WebSocket, subscriber: Subscriber) -> None:
    try:
        while True:
            await websocket.send_text(await subscriber.next())
    except Closed as closed:
        with contextlib.suppress(Exception):
            await websocket.close(closed.code, closed.reason)


async def listen(
    websocket: WebSocket, subscriber: Subscriber, handle: Handler, error_frame: ErrorFrame
) -> None:
    bad_frames = 0
    while True:
        raw = await receive_text(websocket)
        try:
            await handle(raw)
        except RateLimited as exc:
            raise Refused(CLOSE_RATE, exc.message) from None
        except OmnichatError as exc:
            bad_frames += 1
            if bad_frames > MAX_BAD_FRAMES:
                raise Refused(CLOSE_POLICY, "too many invalid frames") from None
            subscriber.offer(error_frame(exc))
