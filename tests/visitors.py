"""Test clients for the visitor side: sessions over HTTP and the visitor socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

from tests.servers import Server, Socket, query
from tests.timing import UNIT


def default_site_key(server: Server) -> str:
    """The bootstrap site's public key, read from the server's database."""
    return str(query(server, "SELECT site_key FROM sites ORDER BY id LIMIT 1")[0]["site_key"])


def new_session(
    server: Server, token: str | None = None, site_key: str | None = None, **headers: str
) -> dict[str, Any]:
    response = server.http.post(
        "/api/v1/widget/session",
        json={"site_key": site_key or default_site_key(server), "token": token},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def send(ws: Socket, frame: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(frame).decode())


async def next_frame(
    ws: Socket, kind: str | None = None, timeout: float = 5 * UNIT
) -> dict[str, Any]:
    """The next frame (of type `kind`, skipping others) within `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            frame = orjson.loads(await ws.recv())
            if kind is None or frame["type"] == kind:
                return dict(frame)


@contextlib.asynccontextmanager
async def visitor_socket(
    server: Server, token: str, last_seq: int = 0, **headers: str
) -> AsyncIterator[tuple[Socket, dict[str, Any]]]:
    """A visitor socket after hello, with the welcome frame."""
    async with server.websocket("/ws/visitor", headers) as ws:
        await send(ws, {"type": "hello", "token": token, "last_seq": last_seq})
        yield ws, await next_frame(ws, "welcome")


async def chat_until_killed(server: Server, token: str, acked: list[str], tag: str) -> None:
    """Send messages one by one on a visitor socket, recording each acknowledged client id,
    until the socket dies (its server killed)."""
    with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
        async with visitor_socket(server, token) as (ws, _):
            for n in range(10_000):
                client_id = f"{tag}-{n}"
                await send(ws, {"type": "message", "client_id": client_id, "text": f"m{n}"})
                await next_frame(ws, "ack")
                acked.append(client_id)
