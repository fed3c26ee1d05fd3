"""The widget's HTTP API: sessions, and the fallback for networks that block WebSockets."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount, Route

from omnichat import sites
from omnichat.accounts import users
from omnichat.chat import (
    attachments,
    conversations,
    followups,
    inbound,
    messages,
    ratings,
    visitor_context,
    visitors,
)
from omnichat.chat.visitors import Visitor
from omnichat.errors import Invalid, NotFound, RateLimited
from omnichat.protocol.hub import Closed
from omnichat.sites import Site
from omnichat.web import attachments_api
from omnichat.web.context import context
from omnichat.web.cors import WidgetCors
from omnichat.web.guard import bearer_token, client_ip
from omnichat.web.responses import JSONResponse, query_int, read_json

MAX_WAIT_SECONDS = 30


async def authenticated_visitor(request: Request) -> tuple[Visitor, Site]:
    """The visitor of the Bearer token, on a site that allows the request's origin."""
    ctx = context(request)
    return await visitors.authenticate(
        ctx.db, bearer_token(request), request.headers.get("origin"), ctx.settings.production
    )


async def session(request: Request) -> JSONResponse:
    ctx = context(request)
    await ctx.limits.sessions.take(client_ip(request))
    body = await read_json(request)
    site_key, token = body.get("site_key"), body.get("token")
    if not isinstance(site_key, str) or not site_key:
        raise Invalid("site_key", "is required")
    if token is not None and not isinstance(token, str):
        raise Invalid("token", "must be a string or null")
    page = visitor_context.parse_context(body.get("context"))
    site = await sites.site_by_key(ctx.db, site_key)
    if site is None:
        raise NotFound("No site has this key.", code="unknown_site")
    site.check_origin(request.headers.get("origin"), ctx.settings.production)
    token, visitor = await visitors.start_session(ctx.db, site, token)
    if "context" in body:
        # The browser and OS come from the request, not from what the page says.
        await visitor_context.record(
            ctx.db, visitor.id, page, user_agent=request.headers.get("user-agent", "")
        )
    conversation = await conversations.for_visitor(ctx.db, visitor.id)
    history = [] if conversation is None else await messages.latest(ctx.db, conversation.id)
    return JSONResponse(
        {
            "token": token,
            "visitor": {"id": visitor.id},
            "conversation": None if conversation is None else conversation.visitor_json(),
            "messages": [message.to_json() for message in history],
            "site": {
                **site.widget_json(),
                # What the widget checks before uploading (the server checks again).
                "attachments": {
                    "max_bytes": ctx.settings.attachments.max_bytes,
                    "types": ctx.settings.attachments.allowed_types,
                },
            },
        }
    )


async def status(request: Request) -> JSONResponse:
    """Whether any staff member of the site's tenant is online, for the widget to say so."""
    ctx = context(request)
    site_key = request.query_params.get("site_key", "")
    if not site_key:
        raise Invalid("site_key", "is required")
    site = await sites.site_by_key(ctx.db, site_key)
    if site is None:
        raise NotFound("No site has this key.", code="unknown_site")
    site.check_origin(request.headers.get("origin"), ctx.settings.production)
    connected = ctx.presence.connected_in(site.tenant_id)
    return JSONResponse({"online": await users.any_online(ctx.db, site.tenant_id, connected)})


async def list_messages(request: Request) -> JSONResponse:
    """Messages after `after`; with `wait=N` an empty answer is held up to N seconds."""
    ctx = context(request)
    visitor, _ = await authenticated_visitor(request)
    after = query_int(request, "after", 0, 0, 2**62)
    wait = query_int(request, "wait", 0, 0, MAX_WAIT_SECONDS)
    # Subscribe before reading, so a message committed in between wakes us instead of being missed.
    async with ctx.hub.join(("visitor", visitor.id), limit=100) as subscriber:
        found = await _messages_after(request, visitor, after)
        if not found and wait:
            # A held poll ties up a connection as a socket does, so it counts against the same
            # per-IP cap; without it one address could hold any number of them open.
            ip = client_ip(request)
            if not await ctx.limits.sockets.acquire(ip):
                raise RateLimited("too many open connections from this address", MAX_WAIT_SECONDS)
            try:
                # Closed: the server is shutting down; answer with what there is.
                with contextlib.suppress(TimeoutError, Closed):
                    await asyncio.wait_for(subscriber.next(), wait)
            finally:
                await ctx.limits.sockets.release(ip)
            found = await _messages_after(request, visitor, after)
    return JSONResponse({"messages": [message.to_json() for message in found]})


async def _messages_after(request: Request, visitor: Visitor, after: int) -> list[messages.Message]:
    db = context(request).db
    conversation = await conversations.for_visitor(db, visitor.id)
    if conversation is None:
        return []
    return await messages.page_after(db, conversation.id, after)


async def post_message(request: Request) -> JSONResponse:
    ctx = context(request)
    visitor, site = await authenticated_visitor(request)
    body = await read_json(request)
    files = attachments.clean_ids(body.get("attachments"))
    text = messages.clean_text(body.get("text"), may_be_empty=bool(files))
    client_id = messages.clean_client_id(body.get("client_id"))
    await ctx.limits.message(visitor.id, client_ip(request))
    await visitors.check_prechat(ctx.db, site, visitor.id)
    stored = await inbound.receive(
        ctx.db, site, visitor.id, "web", text, client_id, presence=ctx.presence, attachments=files
    )
    return JSONResponse({"message": stored.message.to_json()}, 200 if stored.duplicate else 201)


async def identify(request: Request) -> JSONResponse:
    ctx = context(request)
    visitor, site = await authenticated_visitor(request)
    body = await read_json(request)
    # Each call is a write and an event for every agent: it counts like a message.
    await ctx.limits.message(visitor.id, client_ip(request))
    secret = await sites.identity_secret(ctx.db, site.id)
    updated = await visitors.identify(
        ctx.db,
        visitor,
        secret,
        body.get("identifier"),
        body.get("name"),
        body.get("email"),
        body.get("identifier_hash"),
        body.get("phone"),
    )
    return JSONResponse(
        {
            "visitor": {
                "id": updated.id,
                "name": updated.name,
                "email": updated.email,
                "phone": updated.phone,
                "verified": updated.verified,
            }
        }
    )


async def post_followup(request: Request) -> JSONResponse:
    """The follow-up form: contact details and a message for the team (email or phone)."""
    ctx = context(request)
    visitor, site = await authenticated_visitor(request)
    country = site.phone_country(ctx.settings.sites.default_country)
    form = followups.parse_form(await read_json(request), country)
    await ctx.limits.messages_per_ip.take(client_ip(request))
    followup, thanks = await followups.create(ctx.db, ctx.alerts, site, visitor.id, form)
    return JSONResponse(
        {"followup": followup.to_json(), "message": None if thanks is None else thanks.to_json()},
        201,
    )


async def post_rating(request: Request) -> JSONResponse:
    """The visitor's 1-5 score (and comment) for their closed conversation, once per close."""
    ctx = context(request)
    visitor, site = await authenticated_visitor(request)
    score, comment = ratings.parse(await read_json(request))
    await ctx.limits.message(visitor.id, client_ip(request))
    conversation = await ratings.rate(ctx.db, site, visitor.id, score, comment)
    return JSONResponse({"rating": conversation.rating_json()}, 201)


routes = [
    Mount(
        "/api/v1/widget",
        routes=[
            Route("/session", session, methods=["POST"]),
            Route("/status", status, methods=["GET"]),
            Route("/messages", list_messages, methods=["GET"]),
            Route("/messages", post_message, methods=["POST"]),
            Route("/identify", identify, methods=["POST"]),
            Route("/followup", post_followup, methods=["POST"]),
            Route("/rating", post_rating, methods=["POST"]),
            *attachments_api.widget_routes,
        ],
        middleware=[Middleware(WidgetCors)],
    )
]
