"""Test clients for the agent side: the inbox API, the agent socket, and visitors to talk to."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from tests.servers import Server, Socket, query
from tests.staff import Account, unique_ip
from tests.timing import UNIT
from tests.visitors import bearer, new_session, next_frame, send


def call(server: Server, account: Account, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return server.http.request(method, path, headers=account.headers, **kwargs)


def word() -> str:
    """A word no other test uses, to find this test's conversations by search."""
    return "w" + uuid.uuid4().hex[:12]


def site_key(server: Server, tenant_slug: str = "default") -> str:
    rows = query(
        server,
        "SELECT s.site_key FROM sites s JOIN tenants t ON t.id = s.tenant_id"
        " WHERE t.slug = :slug ORDER BY s.id LIMIT 1",
        {"slug": tenant_slug},
    )
    return str(rows[0]["site_key"])


def tenant_slug(server: Server, account: Account) -> str:
    rows = query(
        server,
        "SELECT t.slug FROM tenants t JOIN users u ON u.tenant_id = t.id WHERE u.id = :id",
        {"id": account.user["id"]},
    )
    return str(rows[0]["slug"])


def visitor_says(
    server: Server, text: str, token: str | None = None, key: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A visitor (new unless `token`) sends `text` over HTTP; returns its token and the message.

    Each call comes from an address of its own, so the per-IP limits of the shared server are
    never spent by these tests.
    """
    address = {"X-Forwarded-For": unique_ip()}
    if token is None:
        token = new_session(server, site_key=key, **address)["token"]
    response = server.http.post(
        "/api/v1/widget/messages",
        json={"client_id": uuid.uuid4().hex, "text": text},
        headers={**bearer(token), **address},
    )
    assert response.status_code in (200, 201), response.text
    return token, dict(response.json()["message"])


def reply(
    server: Server,
    account: Account,
    conversation_id: int,
    text: str,
    private: bool = False,
    client_id: str | None = None,
) -> httpx.Response:
    return call(
        server,
        account,
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": client_id or uuid.uuid4().hex, "text": text, "private": private},
    )


async def frames_until(ws: Socket, done: Any, timeout: float = 5 * UNIT) -> list[dict[str, Any]]:
    """Frames received until one satisfies `done(frame)` (included)."""
    received = []
    async with asyncio.timeout(timeout):
        while True:
            frame = dict(orjson.loads(await ws.recv()))
            received.append(frame)
            if done(frame):
                return received


async def quiet(ws: Socket, seconds: float = 0.3 * UNIT) -> list[dict[str, Any]]:
    """Whatever arrives within `seconds` (for checking that nothing does)."""
    received = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                received.append(dict(orjson.loads(await ws.recv())))
    return received


@contextlib.asynccontextmanager
async def agent_socket(
    server: Server, token: str, last_event_id: int | None = None
) -> AsyncIterator[tuple[Socket, dict[str, Any]]]:
    """An agent socket after hello, with the welcome frame."""
    async with server.websocket("/ws/agent") as ws:
        await send(ws, {"type": "hello", "token": token, "last_event_id": last_event_id})
        yield ws, await next_frame(ws, "welcome")
