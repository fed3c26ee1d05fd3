"""`WS /ws/agent`: hello, a replay of the tenant's events from an id, then live frames.

The socket joins its hub topics before it reads the newest event id and the replay, and drops
queued live events the replay covered, so the agent sees every event once, in order. It also
listens on its user and session topics, so logout, disabling or a role change closes it, and it
closes itself with 4401 when its access token expires. While it is open its user counts as
connected (`presence`); a hello with `"presence": true` also receives colleagues' presence frames.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from omnichat.accounts import presence, users
from omnichat.accounts.staff import Staff, authenticate, authorize
from omnichat.chat import conversations, events
from omnichat.errors import NotFound, OmnichatError
from omnichat.protocol import agent_frames, frames
from omnichat.protocol.agent_frames import Hello, Ping, Typing
from omnichat.protocol.frames import FrameError
from omnichat.protocol.hub import CLOSE_AUTH, Subscriber
from omnichat.web import sockets
from omnichat.web.context import Context

# A tenant's agents hear every event; a socket this far behind has stopped reading.
QUEUE_LIMIT = 1000
REPLAY_PAGE = 500
RESYNC = '{"type":"resync"}'


async def agent_socket(websocket: WebSocket) -> None:
    async def session(ctx: Context, ip: str) -> None:
        hello = await sockets.hello(websocket, agent_frames.parse, Hello)
        staff = await _authenticated(ctx, hello.token)
        topics = [("tenant", staff.tenant_id), ("user", staff.id), ("session", staff.session_id)]
        if hello.presence:
            topics.append(presence.topic(staff.tenant_id))
        async with ctx.hub.join(*topics, limit=QUEUE_LIMIT) as subscriber:
            # A logout that committed between the hello and the join closed nobody: check again.
            await _authenticated(ctx, hello.token)
            user = await users.user_by_id(ctx.db, staff.tenant_id, staff.id)
            assert user is not None  # just authenticated
            expiry = asyncio.get_running_loop().call_later(
                max(0.0, staff.seconds_left()), subscriber.close, CLOSE_AUTH, "access token expired"
            )
            # From here until the socket ends, the user counts as connected (online if their
            # switch says so).
            ctx.presence.opened(staff.tenant_id, staff.id, user.availability)
            try:
                await welcome(websocket, ctx, staff, hello.last_event_id, subscriber)

                async def handle_raw(raw: str | bytes) -> None:
                    await handle(agent_frames.parse(raw), ctx, staff, subscriber)

                await sockets.serve(websocket, subscriber, handle_raw, frames.error_frame)
            finally:
                ctx.presence.closed(staff.tenant_id, staff.id)
                expiry.cancel()

    await sockets.run(websocket, "agent", session)


async def _authenticated(ctx: Context, token: str) -> Staff:
    try:
        staff = await authenticate(ctx.db, ctx.settings, token)
        authorize(staff, "agent")
    except OmnichatError as exc:
        raise sockets.refused(exc) from None
    return staff


async def welcome(
    websocket: WebSocket, ctx: Context, staff: Staff, asked: int | None, subscriber: Subscriber
) -> None:
    """Send the welcome, then the events after `asked` (or a resync), up to the newest now."""
    newest = await events.newest_id(ctx.db, staff.tenant_id)
    # Live events up to `newest` are either replayed below or not wanted: drop them from the queue.
    subscriber.skip_through(newest)
    user = {"id": staff.id, "name": staff.name, "email": staff.email, "role": staff.role}
    await _send(websocket, {"type": "welcome", "user": user, "last_event_id": newest})
    if asked is None or asked == newest:
        return
    oldest = await events.oldest_id(ctx.db, staff.tenant_id)
    if asked > newest or oldest is None or asked < oldest - 1:
        await websocket.send_text(RESYNC)
        return
    cursor = asked
    while cursor < newest:
        page = await events.after(
            ctx.db, staff.tenant_id, cursor, min(REPLAY_PAGE, newest - cursor)
        )
        # Ids are gapless, so a missing next id means retention deleted it while we replayed.
        if not page or page[0].id != cursor + 1:
            await websocket.send_text(RESYNC)
            return
        for event in page:
            await websocket.send_text(event.frame())
        cursor = page[-1].id


async def handle(
    frame: agent_frames.Frame, ctx: Context, staff: Staff, subscriber: Subscriber
) -> None:
    if isinstance(frame, Typing):
        conversation = await conversations.for_tenant(
            ctx.db, staff.tenant_id, frame.conversation_id
        )
        if conversation is None:
            raise NotFound("no such conversation")
        to_agents = {
            "type": "typing",
            "conversation_id": conversation.id,
            "on": frame.on,
            "by": staff.name,
            "user_id": staff.id,
        }
        tenant = ("tenant", staff.tenant_id)
        ctx.hub.publish(tenant, orjson.dumps(to_agents).decode(), exclude=subscriber)
        if not frame.private:
            to_visitor = {"type": "typing", "on": frame.on, "name": staff.name}
            ctx.hub.publish(("visitor", conversation.visitor_id), orjson.dumps(to_visitor).decode())
    elif isinstance(frame, Ping):
        subscriber.offer('{"type":"pong"}')
    else:
        raise FrameError("hello was already received", code="unexpected_hello")


async def _send(websocket: WebSocket, frame: dict[str, object]) -> None:
    await websocket.send_text(orjson.dumps(frame).decode())


routes = [WebSocketRoute("/ws/agent", agent_socket)]
