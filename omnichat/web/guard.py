"""Staff authentication for HTTP handlers: the Bearer access token, checked on every request."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request

from omnichat.accounts.staff import Staff, authenticate, authorize
from omnichat.errors import Forbidden, Invalid, NotAuthenticated
from omnichat.web.context import context


def client_ip(connection: HTTPConnection) -> str:
    """The client's address (uvicorn has already applied trusted proxies' X-Forwarded-For)."""
    return connection.client.host if connection.client else "unknown"


def bearer_token(connection: HTTPConnection) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def require_staff(
    request: Request, role: str = "agent", *, allow_password_change: bool = False
) -> Staff:
    """The authenticated staff member holding `role`, or 401/403.

    `allow_password_change` is for the account endpoints that must work while a generated
    password still has to be changed; every other endpoint answers 403
    `password_change_required` until it is.
    """
    token = bearer_token(request)
    if token is None:
        raise NotAuthenticated("missing Authorization: Bearer access token")
    ctx = context(request)
    staff = await authenticate(ctx.db, ctx.settings, token)
    if allow_password_change:
        if not staff.has_role(role):
            raise Forbidden(f"this needs the {role} role")
    else:
        authorize(staff, role)
    return staff


def text_field(body: dict[str, Any], name: str) -> str:
    """`body[name]` as a string; 422 naming the field when it is missing or not a string."""
    value = body.get(name)
    if not isinstance(value, str):
        raise Invalid(name, "must be a string" if name in body else "is required")
    return value
