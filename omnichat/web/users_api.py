"""`/api/v1/users`: staff accounts of the caller's tenant.

Agents may list their colleagues (to assign conversations); creating and changing accounts takes
an admin.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from omnichat import emails
from omnichat.accounts import links, users
from omnichat.accounts.presence import Presence
from omnichat.accounts.users import User
from omnichat.notify import mail
from omnichat.storage.db import Tx
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import JSONResponse, path_id, read_json


def _answer(
    user: User,
    password: str | None,
    presence: Presence,
    status: int = 200,
    *,
    invited: bool = False,
) -> JSONResponse:
    body: dict[str, Any] = {"user": user.json(connected=presence.connected(user.id))}
    if invited:
        # An invitation link went to their address; no password exists that anyone knows.
        body["invited"] = True
    elif password is not None:
        # Shown once, to the admin, who passes it on; it must be changed at first sign-in.
        body["password"] = password
    return JSONResponse(body, status)


async def list_users(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "agent")
    found = await users.list_users(ctx.db, staff.tenant_id)
    return JSONResponse(
        {"users": [user.json(connected=ctx.presence.connected(user.id)) for user in found]}
    )


async def create_user(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    body = await read_json(request)
    email = emails.parse_email(body.get("email"))
    name = users.parse_name(body["name"]) if "name" in body else email.split("@")[0][:100]
    role = users.parse_role(body.get("role", "agent"))

    async def invite(tx: Tx, user: User) -> None:
        await links.issue(tx, ctx.sealer, "invite", user.id, user.tenant_id)

    # With email on, the new colleague gets a link and chooses a password; without, the admin
    # gets a one-time password to pass on.
    inviting = mail.enabled(ctx.settings.email)
    user, password = await users.create_user(
        ctx.db,
        staff,
        email=email,
        name=name,
        role=role,
        rounds=ctx.settings.security.bcrypt_rounds,
        ip=client_ip(request),
        invite=invite if inviting else None,
    )
    return _answer(user, password, ctx.presence, 201, invited=inviting)


async def update_user(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    changes = users.parse_changes(await read_json(request))
    user, password = await users.update_user(
        ctx.db,
        staff,
        path_id(request, "user_id"),
        changes,
        rounds=ctx.settings.security.bcrypt_rounds,
        ip=client_ip(request),
    )
    return _answer(user, password, ctx.presence)


routes = [
    Route("/api/v1/users", list_users, methods=["GET"]),
    Route("/api/v1/users", create_user, methods=["POST"]),
    Route("/api/v1/users/{user_id:int}", update_user, methods=["PATCH"]),
]
