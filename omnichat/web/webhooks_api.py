"""`/api/v1/webhooks`: admins manage the tenant's outgoing webhooks and read their deliveries."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.errors import Invalid
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import JSONResponse, path_id, read_json
from omnichat.webhooks import deliveries, endpoints

FIELDS = {"url", "events", "active"}


def _unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Invalid(unknown[0][:60], "is not a field of a webhook")


async def list_webhooks(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    found = await endpoints.tenant_webhooks(ctx.db, staff.tenant_id)
    return JSONResponse({"webhooks": [webhook.to_json() for webhook in found]})


async def create_webhook(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    body = await read_json(request)
    _unknown(body, {"url", "events"})
    url = await endpoints.parse_url(
        body.get("url"), production=ctx.settings.production, egress=ctx.webhooks.egress
    )
    events = endpoints.parse_events(body.get("events"))
    webhook, secret = await endpoints.create(
        ctx.db, staff.tenant_id, staff.id, url, events, client_ip(request)
    )
    return JSONResponse({"webhook": webhook.to_json(), "secret": secret}, 201)


async def update_webhook(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    webhook_id = path_id(request)
    body = await read_json(request)
    _unknown(body, FIELDS)
    await endpoints.find(ctx.db, staff.tenant_id, webhook_id)  # 404 before 422
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = await endpoints.parse_url(
            body["url"], production=ctx.settings.production, egress=ctx.webhooks.egress
        )
    if "events" in body:
        changes["events"] = endpoints.parse_events(body["events"])
    if "active" in body:
        changes["active"] = endpoints.parse_active(body["active"])
    webhook = await endpoints.update(
        ctx.db, staff.tenant_id, staff.id, webhook_id, changes, client_ip(request)
    )
    return JSONResponse({"webhook": webhook.to_json()})


async def delete_webhook(request: Request) -> Response:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    await endpoints.delete(ctx.db, staff.tenant_id, staff.id, path_id(request), client_ip(request))
    return Response(status_code=204)


async def list_deliveries(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    found = await deliveries.log_of(ctx.db, staff.tenant_id, path_id(request))
    return JSONResponse({"deliveries": [delivery.to_json() for delivery in found]})


async def resend_delivery(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    delivery = await deliveries.resend(
        ctx.db, staff.tenant_id, path_id(request), path_id(request, "delivery_id")
    )
    return JSONResponse({"delivery": delivery.to_json()})


routes = [
    Route("/api/v1/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/v1/webhooks", create_webhook, methods=["POST"]),
    Route("/api/v1/webhooks/{id:int}", update_webhook, methods=["PATCH"]),
    Route("/api/v1/webhooks/{id:int}", delete_webhook, methods=["DELETE"]),
    Route("/api/v1/webhooks/{id:int}/deliveries", list_deliveries, methods=["GET"]),
    Route(
        "/api/v1/webhooks/{id:int}/deliveries/{delivery_id:int}/resend",
        resend_delivery,
        methods=["POST"],
    ),
]
