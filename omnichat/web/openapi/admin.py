"""Administration: users, sites, the audit log, exports, backups and channels
(users_api.py, sites_api.py, admin_api.py, backups_api.py, channels_api.py)."""

from __future__ import annotations

from omnichat.web.openapi.operations import (
    BOOLEAN,
    ID,
    MAX_ID,
    STAFF,
    TIME,
    Schema,
    answer,
    array,
    body,
    enum,
    integer,
    nullable,
    operation,
    path_id,
    query,
    ref,
    string,
)

TAG = "Administration"
ROLE = enum("agent", "admin", "owner")
NAME = string(minLength=1, maxLength=100)
TEXT = string(minLength=1, maxLength=1000)
# The admin sees a generated password once: on creation, and after `reset_password`.
# A new account's answer carries its one-time password, or `invited` when a link was mailed.
USER = answer(
    {"user": ref("User"), "password": string(), "invited": BOOLEAN},
    optional=["password", "invited"],
)
SITE = answer({"site": ref("Site")})
SITE_FIELDS: dict[str, Schema] = {
    "name": NAME,
    "allowed_origins": array(string(maxLength=300), maxItems=100),
    "identity_secret": nullable(string(minLength=16, maxLength=256)),
    **{
        field: TEXT
        for field in ("greeting", "patience_text", "escalate_text", "followup_text", "away_text")
    },
    "patience_seconds": integer(0, 86400),
    "escalate_seconds": integer(0, 86400),
    "auto_close_minutes": integer(0, 43200),
    "max_open_per_agent": integer(0, 1000),
    "auto_assign": BOOLEAN,
    "ratings": BOOLEAN,
    "hide_content": BOOLEAN,
    "business_hours": nullable(ref("BusinessHours")),
    "sms_number": nullable(string()),
    "whatsapp_number": nullable(string()),
    "alert_numbers": array(string(), maxItems=10),
    "alert_emails": array(string(), maxItems=10),
    "on_call": array(ref("OnCallWindow"), maxItems=20),
    "alert_webhook_url": nullable(string(maxLength=2000)),
    "prechat": body(
        {
            "enabled": BOOLEAN,
            "fields": array(enum("name", "email", "phone")),
            "required": array(enum("name", "email", "phone")),
        }
    ),
    "default_country": nullable(string(pattern="^[A-Za-z]{2}$")),
}
BACKUPS = answer(
    {
        "backups": array(answer({"name": string(), "size": integer(0), "created_at": TIME})),
        "interval_hours": {"type": "number"},
        "keep": integer(0),
        "failing": BOOLEAN,
        "last_failure": nullable(answer({"at": TIME, "message": string()})),
    }
)
AUDIT_ENTRY = answer(
    {
        "id": ID,
        "created_at": TIME,
        "action": string(),
        "actor": nullable(
            answer(
                {"id": ID, "name": string(), "token": answer({"id": ID, "name": string()})},
                optional=["token"],
            )
        ),
        "target": nullable(string()),
        "details": nullable({"type": "object"}),
        "ip": nullable(string()),
    }
)
CHANNELS = answer(
    {
        "twilio": answer(
            {
                "enabled": BOOLEAN,
                "missing": array(string()),
                "circuit": enum("closed", "open", "half_open"),
                "webhook_url": nullable(string()),
                "status_callback_url": nullable(string()),
            }
        )
    }
)


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/users": {
            "get": operation(
                "The tenant's staff accounts",
                tag=TAG,
                security=STAFF,
                answers={200: answer({"users": array(ref("User"))})},
            ),
            "post": operation(
                "Create an account (admins; a role at most the caller's): mails an invitation"
                " when email is on, else answers a one-time password",
                tag=TAG,
                security=STAFF,
                request=body(
                    {"email": string(maxLength=254), "name": NAME, "role": ROLE},
                    ["email"],
                    closed=False,
                ),
                answers={201: USER},
                errors=[409],
            ),
        },
        "/api/v1/users/{user_id}": {
            "patch": operation(
                "Change an account (admins)",
                tag=TAG,
                security=STAFF,
                params=[path_id("user_id")],
                request=body(
                    {
                        "name": NAME,
                        "email": string(maxLength=254),
                        "role": ROLE,
                        "disabled": BOOLEAN,
                        "reset_password": BOOLEAN,
                    }
                ),
                answers={200: USER},
                errors=[409],
            )
        },
        "/api/v1/sites": {
            "get": operation(
                "The tenant's sites (admins)",
                tag=TAG,
                security=STAFF,
                answers={200: answer({"sites": array(ref("Site"))})},
            ),
            "post": operation(
                "Create a site (admins)",
                tag=TAG,
                security=STAFF,
                request=body(SITE_FIELDS, ["name"]),
                answers={201: SITE},
                errors=[409],
            ),
        },
        "/api/v1/sites/{site_id}": {
            "patch": operation(
                "Change a site (admins)",
                tag=TAG,
                security=STAFF,
                params=[path_id("site_id")],
                request=body(SITE_FIELDS),
                answers={200: SITE},
                errors=[409],
            )
        },
        "/api/v1/audit": {
            "get": operation(
                "The audit log, newest first (admins)",
                tag=TAG,
                security=STAFF,
                params=[query("limit", integer(1, 200)), query("before", integer(1, MAX_ID))],
                answers={200: answer({"entries": array(AUDIT_ENTRY), "next": nullable(string())})},
            )
        },
        "/api/v1/export/conversations.csv": {
            "get": operation(
                "The last `days` days of conversations as CSV (admins)",
                tag=TAG,
                security=STAFF,
                params=[query("days", integer(1, 366))],
                answers={200: string()},
                content_type="text/csv",
            )
        },
        "/api/v1/backups": {
            "get": operation(
                "The installation's backups (owners of the first tenant)",
                tag=TAG,
                security=STAFF,
                answers={200: BACKUPS},
            ),
            "post": operation(
                "Download a fresh backup (owners of the first tenant; on PostgreSQL a pg_dump"
                " archive, .pgdump, as application/octet-stream)",
                tag=TAG,
                security=STAFF,
                answers={200: string(format="binary")},
                content_type="application/vnd.sqlite3",
            ),
        },
        "/api/v1/channels": {
            "get": operation(
                "Whether SMS/WhatsApp are configured, and the URLs to give Twilio",
                tag=TAG,
                security=STAFF,
                answers={200: CHANNELS},
            )
        },
    }
