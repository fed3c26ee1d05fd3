"""Health, metrics and this description itself (health.py, omnichat/web/openapi)."""

from __future__ import annotations

from omnichat.web.openapi.operations import (
    ERROR_BODY,
    PUBLIC,
    Schema,
    answer,
    enum,
    integer,
    nullable,
    operation,
    string,
)

TAG = "Operations"
CHECKS = {"type": "object", "additionalProperties": string()}
BACKUP = answer(
    {
        "status": enum("ok", "none", "failed"),
        "newest_age_seconds": nullable(integer(0)),
        "last_failure_at": nullable(string(format="date-time")),
    }
)
READY = answer({"status": enum("ok"), "checks": CHECKS, "backup": BACKUP})
# The error envelope, with the checks beside it: the failing ones are named in the message.
NOT_READY = answer({"error": ERROR_BODY, "checks": CHECKS, "backup": BACKUP})


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/health/live": {
            "get": operation(
                "The process answers",
                tag=TAG,
                security=PUBLIC,
                answers={200: answer({"status": enum("ok")})},
            )
        },
        "/health/ready": {
            "get": operation(
                "The database answers, migrations are current and the scheduler runs",
                tag=TAG,
                security=PUBLIC,
                answers={200: READY, 503: NOT_READY},
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus text (allowed addresses, or the metrics token as bearer)",
                tag=TAG,
                security=PUBLIC,
                answers={200: string()},
                errors=[403],
                content_type="text/plain",
            )
        },
        "/api/openapi.json": {
            "get": operation(
                "This document",
                tag=TAG,
                security=PUBLIC,
                answers={200: {"type": "object"}},
            )
        },
    }
