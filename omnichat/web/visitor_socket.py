"""`WS /ws/visitor`: hello, a replay from `last_seq`, then live frames both ways.

The socket joins the hub before it reads the replay from the database, and the hub drops live
frames the replay already covered, so the visitor sees no gap and no duplicate.
"""

from __future__ import annotations

import logging

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from omnichat.chat import conversations, inbound, messages, visitors
from omnichat.chat.visitors import Visitor
from omnichat.errors import OmnichatError
from omnichat.protocol import frames, visitor_frames
from omnichat.protocol.frames import FrameError
from omnichat.protocol.hub import Subscriber
from omnichat.protocol.visitor_frames import Hello, Ping, Seen, Send, Typing
from omnichat.sites import Site
from omnichat.web import sockets
from omnichat.web.context import Context

log = logging.getLogger("omnichat.visitor_socket")
QUEUE_LIMIT = 256


async def visitor_socket(websocket: WebSocket) -> None:
    async def session(ctx: Context, ip: str) -> None:
        visitor, site, last_seq = await greet(websocket, ctx)
        async with ctx.hub.join(("visitor", visitor.id), limit=QUEUE_LIMIT) as subscriber:
            await welcome(websocket, ctx, visitor, last_seq, subscriber)

            async def handle_raw(raw: str | bytes) -> None:
                frame = visitor_frames.parse(raw)
                await handle(frame, ctx, visitor, site, ip, subscriber)

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


async def welcome(
    websocket: WebSocket, ctx: Context, visitor: Visitor, last_seq: int, subscriber: Subscriber
) -> None:
    conversation = await conversations.for_visitor(ctx.db, visitor.id)
    replay: list[messages.Message] = []
    if conversation is not None:
        replay = await messages.page_after(ctx.db, conversation.id, last_seq, messages.PAGE + 1)
    more = len(replay) > messages.PAGE
    replay = replay[: messages.PAGE]
    # Live frames up to here are in the replay (or the client had them): drop them from the queue.
    known = (
        replay[-1].seq if replay else min(last_seq, conversation.last_seq if conversation else 0)
    )
    subscriber.skip_through(known)
    frame = {
        "type": "welcome",
        "conversation": None if conversation is None else conversation.to_json(),
        "messages": [message.to_json() for message in replay],
        "more": more,
    }
    await websocket.send_text(orjson.dumps(frame).decode())


async def handle(
    frame: visitor_frames.Frame,
    ctx: Context,
    visitor: Visitor,
    site: Site,
    ip: str,
    subscriber: Subscriber,
) -> None:
    if isinstance(frame, Send):
        ctx.limits.message(visitor.id, ip)
        stored = await inbound.receive(
            ctx.db, site, visitor.id, "web", frame.text, frame.client_id, subscriber
        )
        if stored.duplicate:
            subscriber.offer(messages.ack_frame(stored.message))
    elif isinstance(frame, Ping):
        subscriber.offer('{"type":"pong"}')
    elif isinstance(frame, Typing | Seen):
        if not ctx.limits.signal(visitor.id):
            return  # a flood: each frame would go to every agent of the tenant
        conversation = await conversations.for_visitor(ctx.db, visitor.id)
        if conversation is None:
            return
        if isinstance(frame, Typing):
            ephemeral = {
                "type": "typing",
                "conversation_id": conversation.id,
                "on": frame.on,
                "by": visitor.name or "Visitor",
            }
        else:
            ephemeral = {
                "type": "seen",
                "conversation_id": conversation.id,
                "seq": min(frame.seq, conversation.last_seq),
            }
        ctx.hub.publish(("tenant", visitor.tenant_id), orjson.dumps(ephemeral).decode())
    else:
        raise FrameError("hello was already received", code="unexpected_hello")


routes = [WebSocketRoute("/ws/visitor", visitor_socket)]
