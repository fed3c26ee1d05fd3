"""Web push devices and the owners' test mail (notify_api.py)."""

from __future__ import annotations

from omnichat.web.openapi.operations import (
    PEOPLE,
    STAFF,
    Schema,
    answer,
    body,
    operation,
    string,
)

TAG = "Notifications"
ENDPOINT = string(minLength=1, maxLength=2048)


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/push/key": {
            "get": operation(
                "The server's VAPID public key, for subscribing a browser",
                tag=TAG,
                security=STAFF,
                answers={200: answer({"public_key": string()})},
            ),
        },
        "/api/v1/push/subscriptions": {
            "post": operation(
                "Subscribe this browser to push notifications",
                tag=TAG,
                security=PEOPLE,
                request=body(
                    {
                        "endpoint": ENDPOINT,
                        "keys": body({"p256dh": string(), "auth": string()}, ["p256dh", "auth"]),
                    },
                    ["endpoint", "keys"],
                    closed=False,
                ),
                answers={201: answer({"subscription": answer({"endpoint": string()})})},
            ),
            "delete": operation(
                "Unsubscribe a browser of mine",
                tag=TAG,
                security=PEOPLE,
                request=body({"endpoint": ENDPOINT}, ["endpoint"], closed=False),
                answers={204: None},
                errors=[404],
            ),
        },
        "/api/v1/email/test": {
            "post": operation(
                "Mail a test message to the calling owner",
                tag=TAG,
                security=PEOPLE,
                answers={202: answer({"to": string()})},
                errors=[409],
            ),
        },
    }
