"""`/api/v1/widget/*`: what the widget calls (omnichat/web/widget_api.py)."""

from __future__ import annotations

from omnichat.web.openapi.objects import CONTEXT_FIELDS
from omnichat.web.openapi.operations import (
    BOOLEAN,
    ID,
    MAX_ID,
    PUBLIC,
    VISITOR,
    Schema,
    answer,
    array,
    body,
    integer,
    nullable,
    operation,
    query,
    ref,
    string,
    with_text_or_files,
)

TAG = "Widget"
MESSAGE = answer({"message": ref("Message")})
MESSAGES = answer({"messages": array(ref("Message"))})
LIMITS = {"url": 2048, "referrer": 2048, "title": 300, "language": 35, "timezone": 64}
CONTEXT = body(
    {field: nullable(string(maxLength=limit)) for field, limit in LIMITS.items()}, closed=False
)
SHORT = nullable(string(maxLength=200))
SESSION = answer(
    {
        "token": string(),
        "visitor": answer({"id": ID}),
        "conversation": nullable(ref("VisitorConversation")),
        "messages": array(ref("Message")),
        "site": answer(
            {
                "name": string(),
                "greeting": string(),
                "prechat": ref("Prechat"),
                "ratings": BOOLEAN,
            }
        ),
    }
)
assert set(LIMITS) <= set(CONTEXT_FIELDS)


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/widget/session": {
            "post": operation(
                "Start or resume a visitor's session (an unknown token starts a new visitor)",
                tag=TAG,
                security=PUBLIC,
                request=body(
                    {
                        "site_key": string(minLength=1),
                        "token": nullable(string()),
                        "context": nullable(CONTEXT),
                    },
                    ["site_key"],
                    closed=False,
                ),
                answers={200: SESSION},
                errors=[403, 404, 429],
            )
        },
        "/api/v1/widget/status": {
            "get": operation(
                "Whether any staff member of the site is online",
                tag=TAG,
                security=PUBLIC,
                params=[
                    {
                        "name": "site_key",
                        "in": "query",
                        "required": True,
                        "schema": string(minLength=1),
                    }
                ],
                answers={200: answer({"online": BOOLEAN})},
                errors=[403, 404],
            )
        },
        "/api/v1/widget/messages": {
            "get": operation(
                "Messages after `after`; with `wait` an empty answer is held up to N seconds",
                tag=TAG,
                security=VISITOR,
                params=[query("after", integer(0, 2**62)), query("wait", integer(0, 30))],
                answers={200: MESSAGES},
                errors=[429],
            ),
            "post": operation(
                "Send a message; the same client_id again answers 200 with the first one",
                tag=TAG,
                security=VISITOR,
                request=with_text_or_files(
                    body(
                        {
                            "client_id": string(minLength=1, maxLength=64),
                            "text": string(maxLength=4000),
                            "attachments": array(integer(1, MAX_ID)),
                        },
                        ["client_id"],
                        closed=False,
                    )
                ),
                answers={200: MESSAGE, 201: MESSAGE},
                errors=[429],
            ),
        },
        "/api/v1/widget/identify": {
            "post": operation(
                "Tell who the visitor is (verified with `identifier_hash` when the site has a "
                "secret)",
                tag=TAG,
                security=VISITOR,
                request=body(
                    {
                        "identifier": SHORT,
                        "identifier_hash": SHORT,
                        "name": SHORT,
                        "email": SHORT,
                        "phone": SHORT,
                    },
                    closed=False,
                ),
                answers={
                    200: answer(
                        {
                            "visitor": answer(
                                {
                                    "id": ID,
                                    "name": nullable(string()),
                                    "email": nullable(string()),
                                    "phone": nullable(string()),
                                    "verified": BOOLEAN,
                                }
                            )
                        }
                    )
                },
                errors=[429],
            )
        },
        "/api/v1/widget/followup": {
            "post": operation(
                "Leave contact details and a message for the team (email or phone required)",
                tag=TAG,
                security=VISITOR,
                request=body(
                    {
                        "name": nullable(string(maxLength=100)),
                        "email": nullable(string(maxLength=254)),
                        "phone": nullable(string(maxLength=40)),
                        "message": string(minLength=1, maxLength=4000),
                    },
                    ["message"],
                    closed=False,
                ),
                answers={
                    201: answer({"followup": ref("Followup"), "message": nullable(ref("Message"))})
                },
                errors=[429],
            )
        },
        "/api/v1/widget/rating": {
            "post": operation(
                "Rate the visitor's last closed conversation, once",
                tag=TAG,
                security=VISITOR,
                request=body(
                    {"score": integer(1, 5), "comment": nullable(string(maxLength=1000))},
                    ["score"],
                    closed=False,
                ),
                answers={201: answer({"rating": ref("Rating")})},
                errors=[404, 409, 429],
            )
        },
    }
