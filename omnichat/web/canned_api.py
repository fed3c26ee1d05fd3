"""`/api/v1/canned`: canned replies, the caller's personal ones and the tenant's shared ones.

Any staff role reads and manages their personal replies; shared ones take an admin to write.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.chat import canned
from omnichat.web.context import context
from omnichat.web.guard import require_staff
from omnichat.web.responses import JSONResponse, path_id, read_json


async def list_canned(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    found = await canned.visible(ctx.db, staff, request.query_params.get("q"))
    return JSONResponse({"canned": [reply.to_json() for reply in found]})


async def create_canned(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    changes = canned.parse_changes(await read_json(request), creating=True)
    created = await canned.create(ctx.db, staff, changes)
    return JSONResponse({"canned": created.to_json()}, 201)


async def update_canned(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    changes = canned.parse_changes(await read_json(request), creating=False)
    updated = await canned.update(ctx.db, staff, path_id(request), changes)
    return JSONResponse({"canned": updated.to_json()})


async def delete_canned(request: Request) -> Response:
    ctx = context(request)
    staff = await require_staff(request)
    await canned.delete(ctx.db, staff, path_id(request))
    return Response(status_code=204)


routes = [
    Route("/api/v1/canned", list_canned, methods=["GET"]),
    Route("/api/v1/canned", create_canned, methods=["POST"]),
    Route("/api/v1/canned/{id:int}", update_canned, methods=["PATCH"]),
    Route("/api/v1/canned/{id:int}", delete_canned, methods=["DELETE"]),
]
