"""Webhook alerts, received by a small aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.agents import visitor_says
from tests.app_server import AppServer
from tests.escalations import make_site
from tests.servers import ServerProcess
from tests.staff import Account
from tests.timing import UNIT, eventually_async
from tests.visitors import bearer

SECRET = "s3cret-identity-key-for-tests"
# Part of the webhook URL, as services that put a token in the path do: never to be logged.
PATH_TOKEN = "hook-token-7f3a9c"


@dataclass
class Receiver:
    """Records every POST; answers with the queued statuses first, then 200."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def wait_for(self, count: int, timeout: float = 10 * UNIT) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post(f"/{PATH_TOKEN}/alerts", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}/{PATH_TOKEN}/alerts"
    yield found
    await runner.cleanup()


def verified(headers: dict[str, str], body: bytes, secret: str = SECRET) -> dict[str, Any]:
    """The body, after checking the signature as a receiver would (docs/protocol.md)."""
    timestamp = headers["X-Omnichat-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(headers["X-Omnichat-Signature"], "sha256=" + expected.hexdigest())
    assert abs(time.time() - int(timestamp)) < 60
    assert headers["Content-Type"] == "application/json"
    return dict(orjson.loads(body))


async def test_escalation_and_follow_up_alerts_are_signed(
    server: ServerProcess, server_owner: Account, receiver: Receiver
) -> None:
    """The receiver gets an escalation and then a follow-up alert, each correctly signed."""
    site = make_site(
        server,
        server_owner,
        patience_seconds=0,
        escalate_seconds=1,
        alert_webhook_url=receiver.url,
        identity_secret=SECRET,
    )
    token, message = await asyncio.to_thread(visitor_says, server, "help?", key=site["site_key"])
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    alert = verified(headers, body)
    assert headers["X-Omnichat-Event"] == alert["event"] == "conversation.escalated"
    assert headers["X-Omnichat-Delivery"] == alert["id"]
    assert alert["site"] == {"id": site["id"], "name": site["name"]}
    assert alert["conversation"]["id"] == message["conversation_id"]
    assert alert["conversation"]["status"] == "escalated"
    assert alert["followup"] is None and site["name"] in alert["summary"]

    form = {"name": "Ada", "email": "ada@example.com", "message": "Please call"}
    response = await asyncio.to_thread(
        server.http.post,
        "/api/v1/widget/followup",
        json=form,
        headers=bearer(token),
    )
    assert response.status_code == 201
    await receiver.wait_for(2)
    alert = verified(*receiver.received[1])
    assert alert["event"] == "followup.created"
    assert alert["followup"]["id"] == response.json()["followup"]["id"]
    assert alert["followup"]["message"] == "Please call"
    assert alert["conversation"]["status"] == "closed"
    logs = server.logs()
    assert PATH_TOKEN not in logs and "Please call" not in logs and SECRET not in logs


async def test_a_failed_delivery_is_retried_with_the_same_id(
    app: AppServer, owner: Account, receiver: Receiver
) -> None:
    """A 503 answer is retried after a pause; every attempt is signed and carries one id."""
    receiver.statuses = [503]
    site = make_site(
        app,
        owner,
        patience_seconds=0,
        escalate_seconds=1,
        alert_webhook_url=receiver.url,
        identity_secret=SECRET,
    )
    await asyncio.to_thread(visitor_says, app, "help?", key=site["site_key"])
    await receiver.wait_for(2)
    first, second = (verified(*item) for item in receiver.received)
    assert first == second and first["event"] == "conversation.escalated"


async def test_no_identity_secret_means_no_unsigned_webhook(
    app: AppServer, owner: Account, receiver: Receiver
) -> None:
    """A site without an identity secret gets no webhook at all, and the failure is counted."""

    def failures() -> float:
        text = app.http.get("/metrics").text
        line = 'omnichat_alert_deliveries_total{channel="webhook",outcome="failed"}'
        return float(next(row for row in text.splitlines() if row.startswith(line)).split()[-1])

    before = await asyncio.to_thread(failures)
    site = make_site(
        app, owner, patience_seconds=0, escalate_seconds=1, alert_webhook_url=receiver.url
    )
    await asyncio.to_thread(visitor_says, app, "help?", key=site["site_key"])

    async def reported() -> bool:
        return await asyncio.to_thread(failures) != before

    await eventually_async(reported, what="the missing secret to be reported")
    assert receiver.received == []
