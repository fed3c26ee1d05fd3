"""`GET /api/openapi.json`, the OpenAPI 3.1 description of the API, and `GET /api/docs`, a page
that renders it.

The description is kept by hand, one module per area of the API, each returning its paths; this
module only assembles them. Two things keep it true: tests/test_openapi.py fails when a route
of the app is missing from it or it names a route the app lacks, and the conformance run
(tests/test_conformance.py) checks every answer of the real server against it. To describe a
new area, add a module with `paths()` (and objects to `objects.SCHEMAS`) and list it in `AREAS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.web.openapi import (
    admin,
    attachments,
    auth,
    conversations,
    integrations,
    notify,
    objects,
    reports,
    system,
    widget,
    workspace,
)
from omnichat.web.openapi.operations import error_components
from omnichat.web.pages import static_file

AREAS: list[Callable[[], dict[str, dict[str, Any]]]] = [
    auth.paths,
    conversations.paths,
    workspace.paths,
    widget.paths,
    attachments.paths,
    admin.paths,
    integrations.paths,
    notify.paths,
    reports.paths,
    system.paths,
]


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    paths: dict[str, dict[str, Any]] = {}
    for area in AREAS:
        for path, methods in area().items():
            taken = set(paths.get(path, {})) & set(methods)
            assert not taken, f"{path} {taken} is described twice"
            paths.setdefault(path, {}).update(methods)
    envelope, responses = error_components()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Omnichat API",
            "version": "1",
            "description": (
                "Live chat for staff (access token from /api/v1/auth/login, or an API token) "
                "and for the widget (visitor token from /api/v1/widget/session). Every error "
                "answers with the Error envelope. Times are RFC 3339 UTC strings."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": envelope, **objects.SCHEMAS},
            "responses": responses,
            "securitySchemes": {
                "accessToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A staff member's access token (POST /api/v1/auth/login).",
                },
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "omni_...",
                    "description": "An API token (POST /api/v1/tokens), acting for its maker "
                    "with its own role.",
                },
                "visitorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The widget's visitor token (POST /api/v1/widget/session).",
                },
            },
        },
    }


@functools.cache
def encoded() -> bytes:
    return orjson.dumps(document())


async def openapi_json(request: Request) -> Response:
    # Public, like any product's API reference; it holds no data and no secrets.
    return Response(encoded(), media_type="application/json", headers={"Cache-Control": "no-cache"})


routes = [
    Route("/api/openapi.json", openapi_json, methods=["GET"]),
    # The page and its module are ours, served from our origin under our CSP: no CDN.
    static_file("/api/docs", "api-docs/index.html"),
]
