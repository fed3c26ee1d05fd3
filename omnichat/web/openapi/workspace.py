"""The agents' workspace: canned replies and labels (canned_api.py, labels_api.py)."""

from __future__ import annotations

from omnichat.web.openapi.operations import (
    BOOLEAN,
    STAFF,
    Schema,
    answer,
    array,
    body,
    nullable,
    operation,
    path_id,
    query,
    ref,
    string,
)

TAG = "Workspace"
CANNED = answer({"canned": ref("Canned")})
SHORTCUT = string(pattern="^[a-z0-9_-]{1,32}$")
CANNED_TEXT = string(minLength=1, maxLength=4000)


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/canned": {
            "get": operation(
                "My canned replies and the tenant's shared ones",
                tag=TAG,
                security=STAFF,
                params=[query("q", string(maxLength=200))],
                answers={200: answer({"canned": array(ref("Canned"))})},
            ),
            "post": operation(
                "Create a canned reply (shared ones take an admin)",
                tag=TAG,
                security=STAFF,
                request=body(
                    {"shortcut": SHORTCUT, "text": CANNED_TEXT, "shared": BOOLEAN},
                    ["shortcut", "text"],
                ),
                answers={201: CANNED},
                errors=[409],
            ),
        },
        "/api/v1/canned/{id}": {
            "patch": operation(
                "Change a canned reply",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                request=body({"shortcut": SHORTCUT, "text": CANNED_TEXT, "shared": BOOLEAN}),
                answers={200: CANNED},
                errors=[409],
            ),
            "delete": operation(
                "Delete a canned reply",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={204: None},
            ),
        },
        "/api/v1/labels": {
            "get": operation(
                "The tenant's labels",
                tag=TAG,
                security=STAFF,
                answers={200: answer({"labels": array(ref("Label"))})},
            ),
            "post": operation(
                "Create a label (admins; names are unique ignoring case)",
                tag=TAG,
                security=STAFF,
                request=body(
                    {
                        "name": string(minLength=1, maxLength=40),
                        "color": nullable(string(pattern="^#[0-9a-fA-F]{6}$")),
                    },
                    ["name"],
                ),
                answers={201: answer({"label": ref("Label")})},
                errors=[409],
            ),
        },
        "/api/v1/labels/{id}": {
            "delete": operation(
                "Delete a label (admins); conversations lose it",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={204: None},
            )
        },
    }
