"""`/api/v1/auth/*`: sign in, refresh, sign out, who am I, change my password, and the links
mailed for a forgotten password or an invitation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.accounts import links, logins, users
from omnichat.errors import Invalid, OmnichatError, RateLimited
from omnichat.notify import mail, prefs
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff, text_field
from omnichat.web.responses import JSONResponse, read_json, read_optional_json


async def login(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await read_json(request)
    email = text_field(body, "email")
    password = text_field(body, "password")
    # Only needed when the email has accounts in several tenants that this password opens.
    tenant = body.get("tenant")
    if tenant is not None and not isinstance(tenant, str):
        raise Invalid("tenant", "must be a string (the tenant's slug)")
    try:
        issued = await logins.login(
            ctx.db,
            ctx.settings,
            ctx.logins,
            email=email,
            password=password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            tenant=(tenant or "").strip() or None,
        )
    except RateLimited:
        ctx.metrics.logins.labels("throttled").inc()
        raise
    except OmnichatError:
        ctx.metrics.logins.labels("failure").inc()
        raise
    ctx.metrics.logins.labels("success").inc()
    return JSONResponse(issued.json(connected=ctx.presence.connected(issued.user.id)))


async def refresh(request: Request) -> JSONResponse:
    ctx = context(request)
    token = text_field(await read_json(request), "refresh_token")
    issued = await logins.refresh(ctx.db, ctx.settings, refresh_token=token, ip=client_ip(request))
    return JSONResponse(issued.json(connected=ctx.presence.connected(issued.user.id)))


async def logout(request: Request) -> Response:
    ctx = context(request)
    staff = await require_staff(request, allow_password_change=True, people_only=True)
    body = await read_optional_json(request)
    everywhere = body.get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise Invalid("everywhere", "must be true or false")
    await logins.logout(ctx.db, staff, everywhere=everywhere, ip=client_ip(request))
    return Response(status_code=204)


async def me(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, allow_password_change=True)
    user = await users.user_by_id(ctx.db, staff.tenant_id, staff.id)
    assert user is not None  # authenticate() just read it
    body: dict[str, object] = {"user": user.json(connected=ctx.presence.connected(user.id))}
    if staff.token_id is not None:
        # A program asking: the person it acts for, and the token with the role it acts with.
        body["token"] = {"id": staff.token_id, "name": staff.token_name, "role": staff.role}
    return JSONResponse(body)


async def update_me(request: Request) -> JSONResponse:
    """The caller's own settings: the availability switch and which events reach them how."""
    ctx = context(request)
    staff = await require_staff(request, people_only=True)
    body = await read_json(request)
    unknown = sorted(set(body) - {"availability", "notify"})
    if unknown:
        raise Invalid(unknown[0], "is not a field you can change here")
    if not body:
        raise Invalid("availability", "is required")
    availability = None
    if "availability" in body:
        availability = users.parse_availability(body["availability"])
    chosen = None
    if "notify" in body:
        current = await users.user_by_id(ctx.db, staff.tenant_id, staff.id)
        assert current is not None
        chosen = prefs.parse(body["notify"], current.notify)
    if chosen is not None:
        user = await users.set_notify(ctx.db, staff, chosen)
    if availability is not None:
        user, changed = await users.set_availability(ctx.db, staff, availability)
        if changed:
            ctx.presence.switched(staff.tenant_id, staff.id, user.availability)
    return JSONResponse({"user": user.json(connected=ctx.presence.connected(user.id))})


async def forgot(request: Request) -> JSONResponse:
    """202 whatever the address: a link is mailed only when it has an account."""
    ctx = context(request)
    body = await read_json(request)
    await links.forgot(
        ctx.db,
        ctx.sealer,
        ctx.forgot,
        address=body.get("email"),
        ip=client_ip(request),
        mail_on=mail.enabled(ctx.settings.email),
    )
    return JSONResponse({"status": "accepted"}, 202)


async def reset(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await read_json(request)
    new = text_field(body, "new_password")
    await links.reset(
        ctx.db, ctx.settings, ctx.forgot, token=body.get("token"), new=new, ip=client_ip(request)
    )
    return JSONResponse({"status": "password_changed"})


async def accept(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await read_json(request)
    password = text_field(body, "password")
    name = users.parse_name(body.get("name"))
    issued = await links.accept(
        ctx.db,
        ctx.settings,
        ctx.forgot,
        token=body.get("token"),
        password=password,
        name=name,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return JSONResponse(issued.json(connected=ctx.presence.connected(issued.user.id)))


async def password(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, allow_password_change=True, people_only=True)
    body = await read_json(request)
    current = text_field(body, "current_password")
    new = text_field(body, "new_password")
    user = await logins.change_password(
        ctx.db,
        ctx.settings,
        ctx.logins,
        staff,
        current=current,
        new=new,
        ip=client_ip(request),
    )
    return JSONResponse({"user": user.json(connected=ctx.presence.connected(user.id))})


routes = [
    Route("/api/v1/auth/login", login, methods=["POST"]),
    Route("/api/v1/auth/refresh", refresh, methods=["POST"]),
    Route("/api/v1/auth/logout", logout, methods=["POST"]),
    Route("/api/v1/auth/me", me, methods=["GET"]),
    Route("/api/v1/auth/me", update_me, methods=["PATCH"]),
    Route("/api/v1/auth/password", password, methods=["POST"]),
    Route("/api/v1/auth/forgot", forgot, methods=["POST"]),
    Route("/api/v1/auth/reset", reset, methods=["POST"]),
    Route("/api/v1/auth/accept", accept, methods=["POST"]),
]
