"""The API description: it names exactly the app's routes, is valid OpenAPI 3.1, and its page
renders it from our own origin under our CSP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openapi_spec_validator import validate
from starlette.routing import BaseRoute, Mount, Route

from omnichat.settings import build_settings
from omnichat.web.app import create_app
from tests.app_server import AppServer
from tests.servers import ServerProcess, server_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def app_operations(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(METHOD, path template) of every HTTP route, `{id:int}` written `{id}`."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            found |= app_operations(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)
            found |= {(method, path) for method in route.methods or () if method in METHODS}
    return found


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method.upper() in METHODS
    }


def test_every_api_route_is_described_and_nothing_else(tmp_path: Path, app: AppServer) -> None:
    """Each /api/v1 route of the app (method and path) is in the document, and the document
    names no route the app lacks."""
    built = create_app(build_settings({}, server_env(tmp_path / "data")))
    routes = app_operations(built.routes)
    api = {(method, path) for method, path in routes if path.startswith("/api/v1/")}
    described = documented(app.http.get("/api/openapi.json").json())
    assert api - described == set(), "routes missing from omnichat/web/openapi"
    assert described - routes == set(), "the document names routes the app lacks"


def test_document_is_valid_openapi_with_the_shared_error_envelope(app: AppServer) -> None:
    """The document validates as OpenAPI 3.1, and every error answer of every operation uses
    the shared Error envelope."""
    answer = app.http.get("/api/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    validate(document)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and not (path == "/health/ready" and status == "503"):
                    assert response["$ref"].startswith("#/components/responses/"), (
                        method,
                        path,
                        status,
                    )
    for response in document["components"]["responses"].values():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}


def test_staff_operations_name_their_authentication(app: AppServer) -> None:
    """Every /api/v1 operation but sign-in, the widget's public ones and signed file links says
    which bearer it takes, and answers 401 when it is missing."""
    document = app.http.get("/api/openapi.json").json()
    public = {"/api/v1/auth/login", "/api/v1/auth/refresh"}
    public |= {"/api/v1/auth/forgot", "/api/v1/auth/reset", "/api/v1/auth/accept"}
    public |= {"/api/v1/widget/session", "/api/v1/widget/status"}
    public.add("/api/v1/files/{id}")  # a signed, expiring link: no bearer, so <img> works
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/") or path in public:
            continue
        for operation in item.values():
            assert operation["security"], path
            assert "401" in operation["responses"], path


def test_docs_page_lists_the_operations_under_our_csp(
    server: ServerProcess, browser: Browser
) -> None:
    """/api/docs renders the document from our origin with no CSP violation, on a 390 px phone
    without sideways scrolling: areas, operations with their parameters, and the objects."""
    page = browser.new_page(viewport={"width": 390, "height": 800})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.base_url + "/api/docs")
    page.get_by_role("heading", name="Widget").wait_for()
    operation = page.locator("details.op", has_text="/api/v1/conversations/{id}/messages").first
    operation.locator("summary").click()
    assert operation.get_by_text("after_seq", exact=True).is_visible()
    assert page.locator("#schema-Message").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert all(url.startswith(server.base_url) for url in requested), requested
    assert problems == []
    page.close()
