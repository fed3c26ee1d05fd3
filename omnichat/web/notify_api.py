"""`/api/v1/push/*` and `/api/v1/email/test`: staff's devices for web push, and the owners'
check that mail goes out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.accounts import audit
from omnichat.errors import Conflict, Invalid
from omnichat.notify import mail, push, queue
from omnichat.storage.db import Tx
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import JSONResponse, read_json


async def public_key(request: Request) -> JSONResponse:
    ctx = context(request)
    await require_staff(request, "agent")
    keys = await push.ensure_keys(ctx.db)
    return JSONResponse({"public_key": keys.public_key})


async def subscribe(request: Request) -> Response:
    ctx = context(request)
    staff = await require_staff(request, "agent", people_only=True)
    endpoint, p256dh, auth = push.parse_subscription(await read_json(request), ctx.push.egress)
    await push.subscribe(ctx.db, staff, endpoint, p256dh, auth)
    return JSONResponse({"subscription": {"endpoint": endpoint}}, 201)


async def unsubscribe(request: Request) -> Response:
    ctx = context(request)
    staff = await require_staff(request, "agent", people_only=True)
    body = await read_json(request)
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not 1 <= len(endpoint) <= push.MAX_ENDPOINT:
        raise Invalid("endpoint", "must be the endpoint of one of your subscriptions")
    await push.unsubscribe(ctx.db, staff, endpoint)
    return Response(status_code=204)


async def test_email(request: Request) -> JSONResponse:
    """Queue a test mail to the calling owner's own address."""
    ctx = context(request)
    staff = await require_staff(request, "owner", people_only=True)
    if not mail.enabled(ctx.settings.email):
        raise Conflict("email is off: set email.smtp_host and email.from_address", code="email_off")

    async def op(tx: Tx) -> None:
        await queue.enqueue(
            tx,
            tenant_id=staff.tenant_id,
            channel="email",
            kind="test",
            payload={},
            user_id=staff.id,
        )
        await audit.record(
            tx,
            tenant_id=staff.tenant_id,
            actor_id=staff.id,
            action="email.test",
            target=f"user:{staff.id}",
            ip=client_ip(request),
        )

    await ctx.db.write(op)
    return JSONResponse({"to": staff.email}, 202)


routes = [
    Route("/api/v1/push/key", public_key, methods=["GET"]),
    Route("/api/v1/push/subscriptions", subscribe, methods=["POST"]),
    Route("/api/v1/push/subscriptions", unsubscribe, methods=["DELETE"]),
    Route("/api/v1/email/test", test_email, methods=["POST"]),
]
