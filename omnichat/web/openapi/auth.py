"""`/api/v1/auth/*` (omnichat/web/auth_api.py)."""

from __future__ import annotations

from omnichat.notify.prefs import EVENTS
from omnichat.web.openapi.objects import NOTIFY_CHANNELS
from omnichat.web.openapi.operations import (
    BOOLEAN,
    ID,
    PEOPLE,
    PUBLIC,
    STAFF,
    Schema,
    answer,
    body,
    enum,
    integer,
    operation,
    ref,
    string,
)

TAG = "Auth"
PASSWORD = string(minLength=1, maxLength=128)
ISSUED = answer(
    {
        "access_token": string(),
        "refresh_token": string(),
        "token_type": enum("bearer"),
        "expires_in": integer(1),
        "user": ref("User"),
    }
)
USER = answer({"user": ref("User")})
ME = answer(
    {
        "user": ref("User"),
        # Only when the caller is an API token: the token and the role it acts with.
        "token": answer({"id": ID, "name": string(), "role": enum("agent", "admin", "owner")}),
    },
    optional=["token"],
)


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/auth/login": {
            "post": operation(
                "Sign in with email and password",
                tag=TAG,
                security=PUBLIC,
                request=body(
                    {
                        "email": string(),
                        "password": string(),
                        "tenant": string(description="Only when the email has several tenants."),
                    },
                    ["email", "password"],
                    closed=False,
                ),
                answers={200: ISSUED},
                errors=[401, 403, 429],
            )
        },
        "/api/v1/auth/refresh": {
            "post": operation(
                "Rotate the token pair",
                tag=TAG,
                security=PUBLIC,
                request=body({"refresh_token": string()}, ["refresh_token"], closed=False),
                answers={200: ISSUED},
                errors=[401],
            )
        },
        "/api/v1/auth/logout": {
            "post": operation(
                "Sign out (this session, or every session with `everywhere`)",
                tag=TAG,
                security=PEOPLE,
                request=body({"everywhere": BOOLEAN}, closed=False),
                request_required=False,
                answers={204: None},
            )
        },
        "/api/v1/auth/me": {
            "get": operation("Who am I", tag=TAG, security=STAFF, answers={200: ME}),
            "patch": operation(
                "Set my availability, and which events reach me by push and by email",
                tag=TAG,
                security=PEOPLE,
                request={
                    **body(
                        {
                            "availability": enum("online", "away"),
                            # The events given replace theirs; the others keep their channels.
                            "notify": body({event: NOTIFY_CHANNELS for event in EVENTS}),
                        }
                    ),
                    "minProperties": 1,
                },
                answers={200: USER},
            ),
        },
        "/api/v1/auth/forgot": {
            "post": operation(
                "Ask for a password reset link: 202 whatever the address",
                tag=TAG,
                security=PUBLIC,
                request=body({"email": string()}, ["email"], closed=False),
                answers={202: answer({"status": enum("accepted")})},
                errors=[429],
            )
        },
        "/api/v1/auth/reset": {
            "post": operation(
                "Set a new password with a reset link's token; ends every session",
                tag=TAG,
                security=PUBLIC,
                request=body(
                    {"token": string(), "new_password": PASSWORD},
                    ["token", "new_password"],
                    closed=False,
                ),
                answers={200: answer({"status": enum("password_changed")})},
                errors=[429],
            )
        },
        "/api/v1/auth/accept": {
            "post": operation(
                "Accept an invitation: choose a password and name, and sign in",
                tag=TAG,
                security=PUBLIC,
                request=body(
                    {"token": string(), "password": PASSWORD, "name": string(maxLength=100)},
                    ["token", "password"],
                    closed=False,
                ),
                answers={200: ISSUED},
                errors=[429],
            )
        },
        "/api/v1/auth/password": {
            "post": operation(
                "Change my password",
                tag=TAG,
                security=PEOPLE,
                request=body(
                    {"current_password": PASSWORD, "new_password": PASSWORD},
                    ["current_password", "new_password"],
                    closed=False,
                ),
                answers={200: USER},
                errors=[429],
            )
        },
    }
