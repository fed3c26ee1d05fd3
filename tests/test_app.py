"""The app in process: an unhandled exception becomes a 500 envelope without internals."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.requests import Request

from omnichat.settings import build_settings
from omnichat.web.app import create_app
from tests.servers import server_env


async def test_unhandled_error_is_a_500_envelope_with_request_id(tmp_path: Path) -> None:
    """A crashing handler answers 500 with the request id and no traceback or exception text."""
    app = create_app(build_settings({}, server_env(tmp_path / "data")))

    async def explode(request: Request) -> None:
        raise RuntimeError("internal detail /etc/passwd")

    app.add_route("/explode", explode)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=_with_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/explode", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert "req-500" in body["error"]["message"]
    assert "internal detail" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-500"


def _with_state(app, state):  # type: ignore[no-untyped-def]
    """Give requests the lifespan state, as uvicorn does."""

    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        scope["state"] = dict(state)
        await app(scope, receive, send)

    return asgi
