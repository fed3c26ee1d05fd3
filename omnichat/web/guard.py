"""Staff authentication for HTTP handlers: the Bearer access token, checked on every request."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request

from omnichat.accounts import api_tokens
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
    request: Request,
    role: str = "agent",
    *,
    allow_password_change: bool = False,
    people_only: bool = False,
) -> Staff:
    """The authenticated staff member holding `role`, or 401/403.

    The bearer is an access token or an API token (`omni_...`, a program acting for the staff
    member who made it). `people_only` refuses API tokens with 403 `api_token_not_allowed`
    (the account endpoints: passwords, sign-out, availability).
    `allow_password_change` is for the account endpoints that must work while a generated
    password still has to be changed; every other endpoint answers 403
    `password_change_required` until it is.
    """
    token = bearer_token(request)
    if token is None:
        raise NotAuthenticated("missing Authorization: Bearer access token")
    ctx = context(request)
    if api_tokens.is_api_token(token):
        staff = await api_tokens.authenticate(ctx.db, token)
        if people_only:
            raise Forbidden(
                "this is for people signed in; API tokens cannot use it",
                code="api_token_not_allowed",
            )
    else:
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
