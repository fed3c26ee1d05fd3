"""`WS /ws/visitor`: hello, a replay from `last_seq`, then live frames both ways.

The socket joins the hub before it reads the replay from the database, and the hub drops live
frames the replay already covered, so the visitor sees no gap and no duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from omnichat.chat import conversations, inbound, messages, visitor_context, visitors
from omnichat.chat.visitors import Visitor
from omnichat.errors import OmnichatError
from omnichat.protocol import frames, visitor_frames
from omnichat.protocol.frames import FrameError
from omnichat.protocol.hub import Subscriber
from omnichat.protocol.visitor_frames import Hello, Navigate, Ping, Seen, Send, Typing
from omnichat.sites import Site
from omnichat.web import sockets
from omnichat.web.context import Context

log = logging.getLogger("omnichat.visitor_socket")
QUEUE_LIMIT = 256


@dataclass
class Seat:
    """One visitor socket: who it is, and what it knows of its conversation, so typing and seen
    frames need no database read."""

    visitor: Visitor
    site: Site
    ip: str
    subscriber: Subscriber
    conversation_id: int | None = None
    # Set once the pre-chat form's required fields are known to be given (or not needed).
    prechat_done: bool = False


async def visitor_socket(websocket: WebSocket) -> None:
    async def session(ctx: Context, ip: str) -> None:
        visitor, site, last_seq = await greet(websocket, ctx)
        async with ctx.hub.join(("visitor", visitor.id), limit=QUEUE_LIMIT) as subscriber:
            seat = Seat(visitor, site, ip, subscriber)
            await welcome(websocket, ctx, seat, last_seq)

            async def handle_raw(raw: str | bytes) -> None:
                await handle(visitor_frames.parse(raw), ctx, seat)

            await sockets.serve(websocket, subscriber, handle_raw, frames.error_frame)

    await sockets.run(websocket, "visitor", session)


async def greet(websocket: WebSocket, ctx: Context) -> tuple[Visitor, Site, int]:
    """Wait for a valid hello; refuse the socket with 4401/4403 otherwise."""
    hello = await sockets.hello(websocket, visitor_frames.parse, Hello)
    try:
        visitor, site = await visitors.authenticate(
            ctx.db, hello.token, websocket.headers.get("origin"), ctx.settings.production
        )
    except OmnichatError as exc:
        raise sockets.refused(exc) from None
    return visitor, site, hello.last_seq


async def welcome(websocket: WebSocket, ctx: Context, seat: Seat, last_seq: int) -> None:
    conversation = await conversations.for_visitor(ctx.db, seat.visitor.id)
    replay: list[messages.Message] = []
    if conversation is not None:
        seat.conversation_id = conversation.id
        replay = await messages.page_after(ctx.db, conversation.id, last_seq, messages.PAGE + 1)
    more = len(replay) > messages.PAGE
    replay = replay[: messages.PAGE]
    # Live frames up to here are in the replay (or the client had them): drop them from the queue.
    known = (
        replay[-1].seq if replay else min(last_seq, conversation.last_seq if conversation else 0)
    )
    seat.subscriber.skip_through(known)
    frame = {
        "type": "welcome",
        "conversation": None if conversation is None else conversation.visitor_json(),
        "messages": [message.to_json() for message in replay],
        "more": more,
    }
    await websocket.send_text(orjson.dumps(frame).decode())


async def handle(frame: visitor_frames.Frame, ctx: Context, seat: Seat) -> None:
    visitor = seat.visitor
    if isinstance(frame, Send):
        await ctx.limits.message(visitor.id, seat.ip)
        if not seat.prechat_done and seat.conversation_id is None:
            try:
                await visitors.check_prechat(ctx.db, seat.site, visitor.id)
            except visitors.PrechatRequired as exc:
                # Naming the client id lets the widget keep that message until the form is sent.
                raise FrameError(exc.message, code=exc.code, client_id=frame.client_id) from None
            seat.prechat_done = True
        stored = await inbound.receive(
            ctx.db,
            seat.site,
            visitor.id,
            "web",
            frame.text,
            frame.client_id,
            seat.subscriber,
            presence=ctx.presence,
            attachments=frame.attachments,
        )
        seat.conversation_id = stored.conversation.id
        if stored.duplicate:
            seat.subscriber.offer(messages.ack_frame(stored.message))
    elif isinstance(frame, Ping):
        seat.subscriber.offer('{"type":"pong"}')
    elif isinstance(frame, Navigate):
        # Limited like typing and seen frames: a flood is dropped, the socket stays open.
        if not await ctx.limits.signal(visitor.id):
            return
        fields = {"url": frame.url, "title": frame.title}
        await visitor_context.record(ctx.db, visitor.id, fields)
    elif isinstance(frame, Typing | Seen):
        if not await ctx.limits.signal(visitor.id):
            return  # a flood: each frame would go to every agent of the tenant
        if seat.conversation_id is None:
            # Started from another tab or over HTTP since this socket's welcome.
            conversation = await conversations.for_visitor(ctx.db, visitor.id)
            if conversation is None:
                return
            seat.conversation_id = conversation.id
        if isinstance(frame, Typing):
            ephemeral = {
                "type": "typing",
                "conversation_id": seat.conversation_id,
                "on": frame.on,
                "by": visitor.name or "Visitor",
            }
        else:
            # A visitor has seen at most what this socket was sent.
            seen = min(frame.seq, seat.subscriber.highest_key)
            ephemeral = {"type": "seen", "conversation_id": seat.conversation_id, "seq": seen}
        ctx.hub.publish(("tenant", visitor.tenant_id), orjson.dumps(ephemeral).decode())
    else:
        raise FrameError("hello was already received", code="unexpected_hello")


routes = [WebSocketRoute("/ws/visitor", visitor_socket)]
