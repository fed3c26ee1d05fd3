"""Webhook alerts against the real server, received by a small aiohttp server on loopback.

Loopback is an internal destination, refused by the egress guard: the server these tests deliver
to allows 127.0.0.1 explicitly, as an operator would allow an internal receiver.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from tests.agents import visitor_says
from tests.escalations import make_site
from tests.servers import ServerProcess, query, server_env
from tests.staff import Account, sign_in_owner
from tests.timing import UNIT
from tests.visitors import bearer, new_session

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


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose operator allows alerts to 127.0.0.1, where the receivers listen, and with
    alerts unthrottled, so each test sees every alert its site sets off."""
    data_dir = tmp_path_factory.mktemp("alerts") / "data"
    env = server_env(
        data_dir,
        OMNICHAT_EGRESS_ALLOW_HOSTS="127.0.0.1",
        OMNICHAT_ALERTS_MIN_INTERVAL_SECONDS="0",
    )
    process = ServerProcess(data_dir, env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def owner(allowing: ServerProcess) -> Account:
    return sign_in_owner(allowing)


def deliveries(server: ServerProcess, outcome: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics").text
    line = f'omnichat_alert_deliveries_total{{channel="webhook",outcome="{outcome}"}}'
    return float(next(row for row in text.splitlines() if row.startswith(line)).split()[-1])


def verified(headers: dict[str, str], body: bytes, secret: str = SECRET) -> dict[str, Any]:
    """The body, after checking the signature as a receiver would (docs/protocol.md)."""
    timestamp = headers["X-Omnichat-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(headers["X-Omnichat-Signature"], "sha256=" + expected.hexdigest())
    assert abs(time.time() - int(timestamp)) < 60
    assert headers["Content-Type"] == "application/json"
    return dict(orjson.loads(body))


async def test_escalation_and_follow_up_alerts_are_signed(
    allowing: ServerProcess, owner: Account, receiver: Receiver
) -> None:
    """The receiver gets an escalation and then a follow-up alert, each correctly signed."""
    server = allowing
    site = make_site(
        server,
        owner,
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
        httpx.post,
        f"{server.base_url}/api/v1/widget/followup",
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
    allowing: ServerProcess, owner: Account, receiver: Receiver
) -> None:
    """A 503 answer is retried after a pause; every attempt is signed and carries one id."""
    server = allowing
    receiver.statuses = [503]
    site = make_site(
        server,
        owner,
        patience_seconds=0,
        escalate_seconds=1,
        alert_webhook_url=receiver.url,
        identity_secret=SECRET,
    )
    await asyncio.to_thread(visitor_says, server, "help?", key=site["site_key"])
    await receiver.wait_for(2)
    first, second = (verified(*item) for item in receiver.received)
    assert first == second and first["event"] == "conversation.escalated"


async def test_no_identity_secret_means_no_unsigned_webhook(
    allowing: ServerProcess, owner: Account, receiver: Receiver
) -> None:
    """A site without an identity secret gets no webhook at all, and the failure is counted."""
    server = allowing
    before = await asyncio.to_thread(deliveries, server, "failed")
    site = make_site(
        server, owner, patience_seconds=0, escalate_seconds=1, alert_webhook_url=receiver.url
    )
    await asyncio.to_thread(visitor_says, server, "help?", key=site["site_key"])
    deadline = time.monotonic() + 10 * UNIT
    while await asyncio.to_thread(deliveries, server, "failed") == before:
        assert time.monotonic() < deadline, "the missing secret was not reported"
        await asyncio.sleep(0.1)
    assert receiver.received == []


# --- the egress guard ---

INTERNAL_HOSTS = ["127.0.0.1:9", "localhost", "0x7f000001", "[::1]", "169.254.169.254"]


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_internal_webhook_urls_are_refused_when_saved(server: ServerProcess, host: str) -> None:
    """Without the operator's allow-list, a webhook URL naming an internal host is a 422."""
    admin = sign_in_owner(server)
    for make in ("create", "update"):
        url = f"http://{host}/latest/meta-data/"
        if make == "create":
            response = httpx.post(
                f"{server.base_url}/api/v1/sites",
                json={"name": "internal", "alert_webhook_url": url},
                headers=admin.headers,
            )
        else:
            site = make_site(server, admin)
            response = httpx.patch(
                f"{server.base_url}/api/v1/sites/{site['id']}",
                json={"alert_webhook_url": url},
                headers=admin.headers,
            )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"].startswith("alert_webhook_url:")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0x7f000001"])
async def test_alerts_to_internal_hosts_are_never_posted(
    server: ServerProcess, receiver: Receiver, host: str
) -> None:
    """A webhook URL pointing inside (saved before the guard existed) gets no POST at all: the
    loopback receiver hears nothing and the refusal is counted, never a send or a failure."""
    admin = await asyncio.to_thread(sign_in_owner, server)
    site = make_site(
        server,
        admin,
        patience_seconds=0,
        escalate_seconds=1,
        identity_secret=SECRET,
        alert_webhook_url="https://hooks.example.com/x",
    )
    url = receiver.url.replace("127.0.0.1", host)
    [row] = query(server, "SELECT settings FROM sites WHERE id = ?", (site["id"],))
    settings = {**json.loads(row["settings"]), "alert_webhook_url": url}
    query(server, "UPDATE sites SET settings = ? WHERE id = ?", (json.dumps(settings), site["id"]))
    before = await asyncio.to_thread(deliveries, server, "refused")
    sent = await asyncio.to_thread(deliveries, server, "sent")
    failed = await asyncio.to_thread(deliveries, server, "failed")
    await asyncio.to_thread(visitor_says, server, "help?", key=site["site_key"])
    deadline = time.monotonic() + 10 * UNIT
    while await asyncio.to_thread(deliveries, server, "refused") == before:
        assert time.monotonic() < deadline, "the refusal was not counted"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert receiver.received == []
    assert await asyncio.to_thread(deliveries, server, "sent") == sent
    assert await asyncio.to_thread(deliveries, server, "failed") == failed


# --- throttling ---


async def test_a_burst_of_follow_ups_is_told_in_one_summary(
    start_server: Any, receiver: Receiver
) -> None:
    """Six visitors leaving follow-ups at once make one alert at once and one summary saying
    "5 new follow-ups" when the site's interval ends: two webhook POSTs and two texts to each
    alert number, not six."""
    interval = 3 * UNIT
    server: ServerProcess = await asyncio.to_thread(
        start_server,
        OMNICHAT_EGRESS_ALLOW_HOSTS="127.0.0.1",
        OMNICHAT_ALERTS_MIN_INTERVAL_SECONDS=str(interval),
    )
    admin = await asyncio.to_thread(sign_in_owner, server)
    oncall = ["+15550107001", "+15550107002"]
    site = make_site(
        server,
        admin,
        alert_webhook_url=receiver.url,
        identity_secret=SECRET,
        sms_number="+15550107000",
        alert_numbers=oncall,
    )

    def burst() -> None:
        form = {"name": "Ada", "email": "ada@example.com", "message": "Call me"}
        for _ in range(6):
            token = new_session(server, site_key=site["site_key"])["token"]
            posted = httpx.post(
                f"{server.base_url}/api/v1/widget/followup", json=form, headers=bearer(token)
            )
            assert posted.status_code == 201, posted.text

    started = time.monotonic()
    await asyncio.to_thread(burst)
    await receiver.wait_for(1)
    assert verified(*receiver.received[0])["event"] == "followup.created"
    await receiver.wait_for(2, timeout=interval + 10 * UNIT)
    assert time.monotonic() - started >= interval * 0.9
    summary = verified(*receiver.received[1])
    assert summary["event"] == "alerts.summary"
    assert summary["counts"] == {"escalated": 0, "followups": 5}
    assert "5 new follow-ups" in summary["summary"] and site["name"] in summary["summary"]
    await asyncio.sleep(interval + 2 * UNIT)
    assert len(receiver.received) == 2
    texts = query(server, "SELECT to_number, body FROM outbox WHERE kind = 'alert' ORDER BY id")
    assert sorted(row["to_number"] for row in texts) == sorted(oncall * 2)
    assert [row["body"] for row in texts[2:]] == [summary["summary"]] * 2
