"""`/api/v1/tokens`: API tokens for other programs (admins; a token's role is at most theirs)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.accounts import api_tokens
from omnichat.errors import Invalid
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import JSONResponse, path_id, read_json


async def list_tokens(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    found = await api_tokens.tenant_tokens(ctx.db, staff.tenant_id)
    return JSONResponse({"tokens": [token.json() for token in found]})


async def create_token(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    body = await read_json(request)
    unknown = sorted(set(body) - {"name", "role"})
    if unknown:
        raise Invalid(unknown[0], "is not a field of an API token")
    name = api_tokens.parse_name(body.get("name"))
    role = api_tokens.parse_role(body.get("role", "agent"))
    token, secret = await api_tokens.create(ctx.db, staff, name, role, ip=client_ip(request))
    # The only time the secret leaves the server: only its digest is stored.
    return JSONResponse({"token": token.json(), "secret": secret}, 201)


async def revoke_token(request: Request) -> Response:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    await api_tokens.revoke(ctx.db, staff, path_id(request), ip=client_ip(request))
    return Response(status_code=204)


routes = [
    Route("/api/v1/tokens", list_tokens, methods=["GET"]),
    Route("/api/v1/tokens", create_token, methods=["POST"]),
    Route("/api/v1/tokens/{id:int}", revoke_token, methods=["DELETE"]),
]
