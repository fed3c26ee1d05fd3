"""Twilio's webhooks: incoming SMS/WhatsApp messages and delivery status callbacks.

Nothing is believed before the signature checks out: the channel, the sender and the status all
come from the signed form. The answer comes as soon as the message is durably stored; sending
the greeting and any other reply happens later, from the outbox.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.errors import BadRequest, Forbidden, NotFound
from omnichat.logs import mask_phone
from omnichat.twilio import delivery, incoming, signature
from omnichat.twilio.sender import missing
from omnichat.web.context import context
from omnichat.web.responses import read_body

log = logging.getLogger("omnichat.twilio")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def verified_form(request: Request, kind: str) -> dict[str, str]:
    """The signed form parameters of a Twilio request, or 403."""
    ctx = context(request)
    settings = ctx.settings.twilio
    if missing(settings):
        ctx.metrics.twilio_webhooks.labels(kind, "rejected").inc()
        raise Forbidden("SMS and WhatsApp are off: Twilio is not configured.", code="channel_off")
    body = await read_body(request, ctx.settings.server.max_body_bytes)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("body is not a form", code="bad_webhook") from None
    # Twilio signs the URL it was given, so behind a proxy it is the configured public URL that
    # counts, never the scheme and host this process sees.
    query = request.url.query
    url = settings.public_base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")
    given = request.headers.get("x-twilio-signature")
    form = dict(pairs)
    if not signature.verify(url, pairs, str(settings.auth_token), given) or (
        form.get("AccountSid") != settings.account_sid
    ):
        ctx.metrics.twilio_webhooks.labels(kind, "rejected").inc()
        log.warning(
            "Twilio webhook refused: bad signature",
            extra={"fields": {"kind": kind, "signed": given is not None}},
        )
        raise Forbidden("X-Twilio-Signature is missing or wrong.", code="bad_signature")
    return form


async def message(request: Request) -> Response:
    ctx = context(request)
    form = await verified_form(request, "message")
    text = incoming.Text.parse(form, ctx.settings.twilio.api_base_url)
    stored = await incoming.receive(ctx.db, text, ctx.presence)
    fields = {
        "channel": text.channel,
        "from": mask_phone(text.sender),
        "to": mask_phone(text.receiver),
    }
    if stored is None:
        ctx.metrics.twilio_webhooks.labels("message", "ignored").inc()
        log.warning("text to a number no site uses", extra={"fields": fields})
        raise NotFound("No site receives texts on this number.", code="unknown_number")
    outcome = "duplicate" if stored.duplicate else "stored"
    ctx.metrics.twilio_webhooks.labels("message", outcome).inc()
    log.info(
        "text received",
        extra={
            "fields": {
                **fields,
                "conversation_id": stored.conversation.id,
                "duplicate": stored.duplicate,
            }
        },
    )
    return Response(EMPTY_TWIML, media_type="text/xml")


async def status(request: Request) -> Response:
    ctx = context(request)
    form = await verified_form(request, "status")
    # The callback URL we gave Twilio names the row and the attempt; it is covered by the
    # signature, so it can be believed.
    outbox_id = request.query_params.get("outbox", "")
    callback = delivery.Callback(
        sid=form.get("MessageSid", ""),
        status=form.get("MessageStatus", ""),
        error_code=form.get("ErrorCode") or None,
        outbox_id=int(outbox_id) if outbox_id.isdigit() else None,
        attempt_id=request.query_params.get("attempt") or None,
    )
    changed = await delivery.record_callback(ctx.db, callback)
    ctx.metrics.twilio_webhooks.labels("status", "stored" if changed else "ignored").inc()
    return Response(status_code=204)


routes = [
    Route("/webhooks/twilio", message, methods=["POST"]),
    Route("/webhooks/twilio/status", status, methods=["POST"]),
]
