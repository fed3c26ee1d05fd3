"""Attachments: uploads by visitors and staff, fresh links, and the signed file links
(attachments_api.py)."""

from __future__ import annotations

from omnichat.web.openapi.operations import (
    MAX_ID,
    PUBLIC,
    STAFF,
    VISITOR,
    Schema,
    answer,
    integer,
    operation,
    path_id,
    ref,
    string,
)

TAG = "Attachments"
ONE = answer({"attachment": ref("Attachment")})
# One `file` part; its type is sniffed from the content, whatever the name or declared type.
UPLOAD: Schema = {
    "type": "object",
    "properties": {"file": {"type": "string", "format": "binary"}},
    "required": ["file"],
}
MULTIPART = "multipart/form-data"
FILE: Schema = {"type": "string", "format": "binary"}


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/widget/attachments": {
            "post": operation(
                "Upload a file to send with the visitor's next message",
                tag=TAG,
                security=VISITOR,
                request=UPLOAD,
                request_type=MULTIPART,
                answers={201: ONE},
                errors=[415, 429],
            ),
        },
        "/api/v1/widget/attachments/{id}": {
            "get": operation(
                "One of the visitor's files, with a fresh link",
                tag=TAG,
                security=VISITOR,
                params=[path_id()],
                answers={200: ONE},
            ),
        },
        "/api/v1/attachments": {
            "post": operation(
                "Upload a file to send with a reply or note",
                tag=TAG,
                security=STAFF,
                request=UPLOAD,
                request_type=MULTIPART,
                answers={201: ONE},
                errors=[415],
            ),
        },
        "/api/v1/attachments/{id}": {
            "get": operation(
                "A file of the caller's tenant, with a fresh link",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={200: ONE},
            ),
        },
        "/api/v1/files/{id}": {
            "get": operation(
                "The file behind a signed link (one byte range with Range)",
                tag=TAG,
                security=PUBLIC,
                params=[
                    path_id(),
                    {
                        "name": "expires",
                        "in": "query",
                        "required": True,
                        "schema": integer(0, MAX_ID),
                    },
                    {"name": "signature", "in": "query", "required": True, "schema": string()},
                ],
                answers={200: FILE, 206: FILE},
                errors=[403, 416],
                content_type="*/*",
            ),
        },
    }
