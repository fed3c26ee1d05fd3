"""Channels for the admin page: whether SMS/WhatsApp are on, and retrying a failed text."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from omnichat.twilio import delivery
from omnichat.twilio.sender import missing
from omnichat.web.context import context
from omnichat.web.guard import require_staff
from omnichat.web.responses import JSONResponse, path_id


async def channels(request: Request) -> JSONResponse:
    """`{"twilio": {"enabled", "missing", "circuit", "webhook_url", "status_callback_url"}}`."""
    ctx = context(request)
    await require_staff(request)
    settings = ctx.settings.twilio
    base = settings.public_base_url.rstrip("/")
    absent = missing(settings)
    return JSONResponse(
        {
            "twilio": {
                "enabled": not absent,
                "missing": absent,
                "circuit": ctx.twilio.circuit.state,
                # What to paste into the Twilio console for each number.
                "webhook_url": f"{base}/webhooks/twilio" if base else None,
                "status_callback_url": f"{base}/webhooks/twilio/status" if base else None,
            }
        }
    )


async def retry(request: Request) -> JSONResponse:
    """Send a failed SMS/WhatsApp reply again; 409 unless it failed."""
    ctx = context(request)
    staff = await require_staff(request)
    conversation_id = path_id(request)
    message_id = path_id(request, "message_id")
    message = await delivery.retry(ctx.db, staff.tenant_id, conversation_id, message_id)
    return JSONResponse({"message": message.to_json()})


routes = [
    Route("/api/v1/channels", channels, methods=["GET"]),
    Route(
        "/api/v1/conversations/{id:int}/messages/{message_id:int}/retry", retry, methods=["POST"]
    ),
]
