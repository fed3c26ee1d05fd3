"""Other programs: API tokens and outgoing webhooks (tokens_api.py, webhooks_api.py)."""

from __future__ import annotations

from omnichat.web.openapi.operations import (
    BOOLEAN,
    STAFF,
    Schema,
    answer,
    array,
    body,
    enum,
    operation,
    path_id,
    ref,
    string,
)

TAG = "Integrations"
EVENTS = enum(
    "conversation.created",
    "conversation.updated",
    "message.created",
    "message.private",
    "message.updated",
    "followup.created",
    "followup.updated",
    "rating.created",
)
URL = string(minLength=1, maxLength=2048)
WEBHOOK = answer({"webhook": ref("Webhook")})


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/tokens": {
            "get": operation(
                "The tenant's API tokens (admins)",
                tag=TAG,
                security=STAFF,
                answers={200: answer({"tokens": array(ref("ApiToken"))})},
            ),
            "post": operation(
                "Create an API token (admins; a role at most the caller's); the secret is shown "
                "once",
                tag=TAG,
                security=STAFF,
                request=body(
                    {
                        "name": string(minLength=1, maxLength=100),
                        "role": enum("agent", "admin", "owner"),
                    },
                    ["name"],
                ),
                answers={
                    201: answer({"token": ref("ApiToken"), "secret": string(pattern="^omni_")})
                },
            ),
        },
        "/api/v1/tokens/{id}": {
            "delete": operation(
                "Revoke an API token at once (admins)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={204: None},
            )
        },
        "/api/v1/webhooks": {
            "get": operation(
                "The tenant's outgoing webhooks (admins)",
                tag=TAG,
                security=STAFF,
                answers={200: answer({"webhooks": array(ref("Webhook"))})},
            ),
            "post": operation(
                "Create a webhook (admins); its signing secret is shown once",
                tag=TAG,
                security=STAFF,
                request=body({"url": URL, "events": array(EVENTS, minItems=1)}, ["url", "events"]),
                answers={201: answer({"webhook": ref("Webhook"), "secret": string()})},
            ),
        },
        "/api/v1/webhooks/{id}": {
            "patch": operation(
                "Change a webhook (admins)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                request=body({"url": URL, "events": array(EVENTS, minItems=1), "active": BOOLEAN}),
                answers={200: WEBHOOK},
            ),
            "delete": operation(
                "Delete a webhook (admins)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={204: None},
            ),
        },
        "/api/v1/webhooks/{id}/deliveries": {
            "get": operation(
                "The webhook's last 100 deliveries, newest first (admins)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={200: answer({"deliveries": array(ref("Delivery"))})},
            )
        },
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/resend": {
            "post": operation(
                "Queue a delivery again (admins)",
                tag=TAG,
                security=STAFF,
                params=[path_id(), path_id("delivery_id")],
                answers={200: answer({"delivery": ref("Delivery")})},
                errors=[409],
            )
        },
    }
