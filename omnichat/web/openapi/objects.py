"""The objects the API sends (CONTRACT.md "Objects", docs/protocol.md), as the server emits them."""

from __future__ import annotations

from omnichat.notify.prefs import CHANNELS, EVENTS
from omnichat.web.openapi.operations import (
    BOOLEAN,
    ID,
    TIME,
    Schema,
    answer,
    array,
    enum,
    integer,
    nullable,
    ref,
    string,
)

TEXT = string()
MAYBE_TEXT = nullable(TEXT)
PERSON = answer({"id": ID, "name": TEXT})

ATTACHMENT = answer(
    {
        "id": ID,
        "name": string(minLength=1, maxLength=200),
        "type": TEXT,
        "size": integer(0),
        # A signed path on this server, valid for a limited time; null once the file expired.
        "url": nullable(string(pattern="^/api/v1/files/")),
        "expired": BOOLEAN,
    }
)

MESSAGE = answer(
    {
        "id": ID,
        "conversation_id": ID,
        "seq": integer(1),
        "sender": enum("visitor", "agent", "system"),
        "author": nullable(PERSON),
        "text": TEXT,
        "private": BOOLEAN,
        "client_id": MAYBE_TEXT,
        "created_at": TIME,
        "attachments": array(ref("Attachment")),
        # SMS and WhatsApp replies only: how far the text got.
        "delivery": answer(
            {
                "status": enum(
                    "pending",
                    "sending",
                    "queued",
                    "sent",
                    "delivered",
                    "read",
                    "undelivered",
                    "failed",
                ),
                "error_code": MAYBE_TEXT,
                "error_message": MAYBE_TEXT,
            }
        ),
    },
    optional=["delivery"],
)

CONTEXT_FIELDS = ("url", "title", "referrer", "language", "timezone", "browser", "os")
RATING = answer({"score": integer(1, 5), "comment": MAYBE_TEXT, "created_at": TIME})

CONVERSATION = answer(
    {
        "id": ID,
        "status": enum("open", "escalated", "closed"),
        "channel": enum("web", "sms", "whatsapp"),
        "visitor": answer(
            {
                "id": ID,
                "name": MAYBE_TEXT,
                "email": MAYBE_TEXT,
                "phone": MAYBE_TEXT,
                "verified": BOOLEAN,
                "context": answer({field: MAYBE_TEXT for field in CONTEXT_FIELDS}),
            }
        ),
        "assignee": nullable(PERSON),
        "last_seq": integer(0),
        "rating": nullable(ref("Rating")),
        "created_at": TIME,
        "updated_at": TIME,
        "labels": array(TEXT),
        "waiting_since": nullable(TIME),
    }
)


def _without(schema: Schema, field: str) -> Schema:
    properties = {k: v for k, v in schema["properties"].items() if k != field}
    return answer(properties)


# What a visitor sees of their conversation: no staff-only fields.
VISITOR_CONVERSATION = _without(CONVERSATION, "labels")

INBOX_CONVERSATION = answer(
    {
        **CONVERSATION["properties"],
        "last_message": nullable(ref("Message")),
        "last_read_seq": integer(0),
        "unread": integer(0),
    }
)

FOLLOWUP = answer(
    {
        "id": ID,
        "conversation_id": nullable(ID),
        "name": TEXT,
        "email": TEXT,
        "phone": TEXT,
        "message": TEXT,
        "status": enum("new", "viewed", "archived"),
        "created_at": TIME,
        "updated_at": TIME,
    }
)

ROLE = enum("agent", "admin", "owner")
USER = answer(
    {
        "id": ID,
        "email": TEXT,
        "name": TEXT,
        "role": ROLE,
        "disabled": BOOLEAN,
        "must_change_password": BOOLEAN,
        "failed_logins": integer(0),
        "created_at": TIME,
        "updated_at": TIME,
        "availability": enum("online", "away"),
        "online": BOOLEAN,
        "notify": ref("Notify"),
    }
)

# Which events reach the user by which channels (omnichat/notify/prefs.py).
NOTIFY_CHANNELS = array(enum(*CHANNELS), uniqueItems=True)
NOTIFY = answer({event: NOTIFY_CHANNELS for event in EVENTS})

PRECHAT_FIELD = enum("name", "email", "phone")
PRECHAT = answer(
    {"enabled": BOOLEAN, "fields": array(PRECHAT_FIELD), "required": array(PRECHAT_FIELD)}
)
CLOCK = string(pattern="^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
BUSINESS_HOURS = {
    "type": "object",
    "properties": {
        "timezone": string(description="An IANA time zone, e.g. Europe/Paris."),
        "days": {
            "type": "object",
            "propertyNames": enum("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
            "additionalProperties": array(array(CLOCK, minItems=2, maxItems=2), maxItems=4),
        },
    },
    "required": ["timezone", "days"],
    "additionalProperties": False,
}
ON_CALL_WINDOW = {
    "type": "object",
    "description": "A weekly on-call window; an end before the start crosses midnight.",
    "properties": {
        "name": string(),
        "days": array(integer(0, 6), minItems=1, maxItems=7),
        "start": CLOCK,
        "end": CLOCK,
        "numbers": array(string(), maxItems=10),
        "emails": array(string(), maxItems=10),
    },
    "required": ["name", "days", "start", "end", "numbers", "emails"],
    "additionalProperties": False,
}

SITE = answer(
    {
        "id": ID,
        "name": TEXT,
        "site_key": TEXT,
        "allowed_origins": array(TEXT),
        "greeting": TEXT,
        "patience_seconds": integer(0),
        "patience_text": TEXT,
        "escalate_seconds": integer(0),
        "escalate_text": TEXT,
        "followup_text": TEXT,
        "business_hours": nullable(ref("BusinessHours")),
        "away_text": TEXT,
        "auto_close_minutes": integer(0),
        "has_identity_secret": BOOLEAN,
        "sms_number": MAYBE_TEXT,
        "whatsapp_number": MAYBE_TEXT,
        "alert_numbers": array(TEXT),
        "alert_emails": array(TEXT),
        "on_call": array(ref("OnCallWindow")),
        "alert_webhook_url": MAYBE_TEXT,
        "prechat": ref("Prechat"),
        "ratings": BOOLEAN,
        "hide_content": BOOLEAN,
        "auto_assign": BOOLEAN,
        "max_open_per_agent": integer(0),
        "default_country": MAYBE_TEXT,
        "snippet": TEXT,
    }
)

CANNED = answer(
    {"id": ID, "shortcut": TEXT, "text": TEXT, "shared": BOOLEAN, "owner": nullable(PERSON)}
)
LABEL = answer({"id": ID, "name": TEXT, "color": string(pattern="^#[0-9a-f]{6}$")})
API_TOKEN = answer(
    {"id": ID, "name": TEXT, "role": ROLE, "created_at": TIME, "last_used_at": nullable(TIME)}
)
WEBHOOK = answer(
    {
        "id": ID,
        "url": TEXT,
        "events": array(TEXT),
        "active": BOOLEAN,
        "created_at": TIME,
        "updated_at": TIME,
    }
)
DELIVERY = answer(
    {
        "id": ID,
        "event": TEXT,
        "status": enum("queued", "retrying", "delivered", "failed"),
        "attempts": integer(0),
        "response_status": nullable(integer()),
        "last_error": MAYBE_TEXT,
        "created_at": TIME,
        "delivered_at": nullable(TIME),
        "next_attempt_at": nullable(TIME),
    }
)

SCHEMAS: dict[str, Schema] = {
    "Attachment": ATTACHMENT,
    "Notify": NOTIFY,
    "Message": MESSAGE,
    "Rating": RATING,
    "Conversation": CONVERSATION,
    "VisitorConversation": VISITOR_CONVERSATION,
    "InboxConversation": INBOX_CONVERSATION,
    "Followup": FOLLOWUP,
    "User": USER,
    "Prechat": PRECHAT,
    "BusinessHours": BUSINESS_HOURS,
    "OnCallWindow": ON_CALL_WINDOW,
    "Site": SITE,
    "Canned": CANNED,
    "Label": LABEL,
    "ApiToken": API_TOKEN,
    "Webhook": WEBHOOK,
    "Delivery": DELIVERY,
}
