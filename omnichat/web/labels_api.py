"""`/api/v1/labels` (admins define them) and a conversation's labels (agents set them)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.chat import labels
from omnichat.errors import Invalid
from omnichat.web.context import context
from omnichat.web.guard import require_staff
from omnichat.web.responses import JSONResponse, path_id, read_json


async def list_labels(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    found = await labels.tenant_labels(ctx.db, staff.tenant_id)
    return JSONResponse({"labels": [label.to_json() for label in found]})


async def create_label(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    body = await read_json(request)
    unknown = sorted(set(body) - {"name", "color"})
    if unknown:
        raise Invalid(unknown[0], "is not a field of a label")
    name = labels.parse_name(body.get("name"))
    color = labels.parse_color(body.get("color"))
    created = await labels.create(ctx.db, staff, name, color)
    return JSONResponse({"label": created.to_json()}, 201)


async def delete_label(request: Request) -> Response:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    await labels.delete(ctx.db, staff, path_id(request))
    return Response(status_code=204)


async def set_conversation_labels(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    conversation_id = path_id(request)
    body = await read_json(request)
    if "labels" not in body:
        raise Invalid("labels", "is required (a list of label names; [] removes them all)")
    names = labels.parse_names(body["labels"])
    conversation = await labels.set_on_conversation(ctx.db, staff, conversation_id, names)
    return JSONResponse({"conversation": conversation.to_json()})


routes = [
    Route("/api/v1/labels", list_labels, methods=["GET"]),
    Route("/api/v1/labels", create_label, methods=["POST"]),
    Route("/api/v1/labels/{id:int}", delete_label, methods=["DELETE"]),
    Route("/api/v1/conversations/{id:int}/labels", set_conversation_labels, methods=["PUT"]),
]
