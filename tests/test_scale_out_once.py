"""Work done once whatever the number of processes: two `serve` processes share one PostgreSQL
database (and a Redis), and escalation steps and SMS sends happen once per due item; below them,
the claims and recoveries of the queues with two databases on one PostgreSQL ("two processes")
and with concurrent transactions."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from omnichat import retry, sites, times
from omnichat.chat import alert_windows, inbound
from omnichat.errors import Invalid
from omnichat.notify import queue as notifications
from omnichat.protocol.hub import Hub
from omnichat.settings import build_settings
from omnichat.signing import Signer
from omnichat.storage import datadir, engine
from omnichat.storage.db import Database, Tx
from omnichat.twilio import delivery, incoming, media
from omnichat.twilio import outbox as sms_outbox
from omnichat.webhooks import deliveries, endpoints
from tests.engines import shared_postgres, shared_redis
from tests.servers import ServerProcess, query, server_env
from tests.staff import sign_in_owner
from tests.timing import UNIT, eventually
from tests.twilio_standin import (
    PUBLIC,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    Answer,
    TwilioStandIn,
    give_numbers,
    new_phone,
    post_signed,
    standin,
    text_params,
    twilio_env,
)

__all__ = ["standin"]
GREETING = "Connecting you with a staff member, please wait..."
PATIENCE = "Still looking for someone, thank you for waiting."
ESCALATED = "No one is free right now; leave your details and we will get back to you."
StartServer = Callable[..., ServerProcess]


def shared_env(standin: TwilioStandIn, **env: str) -> dict[str, str]:
    """One installation: a fresh PostgreSQL database and the Redis, for every process."""
    return {
        **twilio_env(standin, **env),
        "OMNICHAT_STORAGE_DATABASE_URL": shared_postgres().new_database(),
        "OMNICHAT_HUB_REDIS_URL": shared_redis().url(),
    }


def first_process(
    start_server: StartServer, standin: TwilioStandIn, env: dict[str, str]
) -> ServerProcess:
    """The process that migrates the shared database; the site gets its Twilio numbers."""
    standin.public_base = PUBLIC
    server = start_server(**env)
    standin.forward_to = server
    give_numbers(server, SMS_NUMBER, WHATSAPP_NUMBER)
    return server


def set_timings(server: ServerProcess, **settings: Any) -> None:
    headers = sign_in_owner(server).headers
    site = server.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    server.http.patch(
        f"/api/v1/sites/{site['id']}", json=settings, headers=headers
    ).raise_for_status()


def system_texts(server: ServerProcess, phone: str) -> list[str]:
    """The system messages of the conversation with `phone`, in order."""
    rows = query(
        server,
        "SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " JOIN visitors v ON v.id = c.visitor_id WHERE v.phone = ? AND m.sender = 'system'"
        " ORDER BY m.seq",
        (phone,),
    )
    return [row["text"] for row in rows]


def outbox(server: ServerProcess) -> list[dict[str, Any]]:
    return query(server, "SELECT * FROM outbox ORDER BY id")


def sent_to(standin: TwilioStandIn) -> Counter[tuple[str, str]]:
    """How many times the stand-in accepted each (number, text)."""
    return Counter((sent.to, sent.body) for sent in standin.accepted)


def test_escalation_steps_once_with_two_processes(
    start_server: StartServer, standin: TwilioStandIn
) -> None:
    """Both processes run the escalation job every second; each conversation still gets its
    patience and escalation message (and text) once."""
    env = shared_env(standin)
    a = first_process(start_server, standin, env)
    b = start_server(**env)
    set_timings(
        a, patience_seconds=1, escalate_seconds=2, patience_text=PATIENCE, escalate_text=ESCALATED
    )
    phones = [new_phone() for _ in range(6)]
    for n, phone in enumerate(phones):
        assert post_signed((a, b)[n % 2], text_params(phone, "hello")).status_code == 200
    expected = [GREETING, PATIENCE, ESCALATED]
    eventually(lambda: all(ESCALATED in system_texts(a, phone) for phone in phones), 15 * UNIT)
    standin.wait_for(3 * len(phones), 15 * UNIT)
    time.sleep(3 * UNIT)  # a few more passes of both jobs and senders
    assert {phone: system_texts(b, phone) for phone in phones} == {
        phone: expected for phone in phones
    }
    assert sent_to(standin) == {(phone, text): 1 for phone in phones for text in expected}


def test_each_reply_is_texted_once_with_two_senders_racing(
    start_server: StartServer, standin: TwilioStandIn
) -> None:
    """Twenty replies queued on two processes whose senders both drain the shared outbox,
    through a provider that fails now and then: Twilio takes each text exactly once."""
    env = shared_env(standin)
    a = first_process(start_server, standin, env)
    b = start_server(**env)
    set_timings(a, patience_seconds=0, escalate_seconds=0)
    # Four failures: fewer than open the circuit (five in a row), which would pause a sender.
    standin.plan(*[Answer(500, 20500, "down"), Answer(201)] * 4)
    phones = [new_phone() for _ in range(20)]
    for n, phone in enumerate(phones):
        assert post_signed((a, b)[n % 2], text_params(phone, "hello")).status_code == 200
    standin.wait_for(len(phones), 20 * UNIT)
    eventually(lambda: {row["status"] for row in outbox(a)} == {"queued"}, 15 * UNIT)
    time.sleep(2 * UNIT)  # both senders keep looking; nothing more may go out
    assert sent_to(standin) == {(phone, GREETING): 1 for phone in phones}
    assert len(standin.requests) == len(phones) + 4


def test_a_process_starting_mid_send_does_not_send_again(
    start_server: StartServer, standin: TwilioStandIn
) -> None:
    """A process that starts while another is waiting on Twilio leaves that text alone: its
    start-up recovery only takes back claims older than the lease."""
    env = shared_env(
        standin,
        OMNICHAT_TWILIO_REQUEST_TIMEOUT_SECONDS="30",
        OMNICHAT_TWILIO_UNKNOWN_OUTCOME_GRACE_SECONDS="0.3",
    )
    a = first_process(start_server, standin, env)
    set_timings(a, patience_seconds=0, escalate_seconds=0)
    standin.release.clear()
    phone = new_phone()
    assert post_signed(a, text_params(phone, "hello")).status_code == 200
    standin.wait_requests(1)
    b = start_server(**env)
    time.sleep(1.5 * UNIT)  # past the grace period a reset row would be sent again after
    [row] = outbox(b)
    assert row["status"] == "sending" and row["error_code"] is None
    standin.release.set()
    eventually(lambda: outbox(a)[0]["status"] == "queued", 15 * UNIT)
    time.sleep(1.5 * UNIT)
    assert len(standin.requests) == 1
    assert sent_to(standin) == {(phone, GREETING): 1}


# Below the processes: two databases on one PostgreSQL, as two processes have.


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    """Two migrated databases on one fresh PostgreSQL database, each with its own pool."""
    url = shared_postgres().new_database()
    made: list[Database] = []
    for name in ("a", "b"):
        env = server_env(tmp_path / name, OMNICHAT_STORAGE_DATABASE_URL=url)
        settings = datadir.prepare(build_settings({}, env), announce=lambda text: None)
        db = engine.make_database(settings, Hub(), Signer())
        await db.connect()
        made.append(db)
    yield made[0], made[1]
    for db in made:
        await db.close()


async def queue_text(db: Database, to: str = "+15550001111") -> int:
    site = await db.fetch_one("SELECT id, tenant_id FROM sites ORDER BY id LIMIT 1")
    assert site is not None
    now = times.now_iso()
    params = {
        "tenant": site["tenant_id"],
        "site": site["id"],
        "message": None,
        "kind": "alert",
        "channel": "sms",
        "to": to,
        "from": SMS_NUMBER,
        "body": "alert",
        "status": "pending",
        "now": now,
        "error_code": None,
        "error_message": None,
        "media": None,
    }
    return await db.write(lambda tx: tx.execute(sms_outbox.INSERT, params))


async def set_claimed_at(db: Database, outbox_id: int, seconds_ago: float) -> None:
    at = times.iso(times.now() - timedelta(seconds=seconds_ago))
    await db.write(
        lambda tx: tx.execute(
            "UPDATE outbox SET updated_at = :at WHERE id = :id", {"at": at, "id": outbox_id}
        )
    )


async def test_a_stale_read_cannot_claim_a_text_put_back_for_later(
    two: tuple[Database, Database],
) -> None:
    """Both processes read the same due text; one sends it, fails and puts it back for later:
    the other's claim, made from what it read before, no longer matches (no early resend)."""
    a, b = two
    await queue_text(a)
    [seen_by_a] = await sms_outbox.due(a, times.now_iso(), 8)
    [seen_by_b] = await sms_outbox.due(b, times.now_iso(), 8)
    assert await delivery.claim(a, seen_by_a, "attempt-a")
    await delivery.retry_later(a, seen_by_a.id, "attempt-a", 60, "timeout", "no answer")
    assert not await delivery.claim(b, seen_by_b, "attempt-b")
    [row] = await a.fetch_all("SELECT status, attempts, attempt_id FROM outbox")
    assert (row["status"], row["attempts"], row["attempt_id"]) == ("pending", 1, "attempt-a")


async def test_claims_of_one_row_at_once_let_one_win(two: tuple[Database, Database]) -> None:
    """Twenty claims of one due text at the same moment, from two pools: exactly one wins."""
    a, b = two
    await queue_text(a)
    [row] = await sms_outbox.due(a, times.now_iso(), 8)
    won = await asyncio.gather(
        *(delivery.claim((a, b)[n % 2], row, f"attempt-{n}") for n in range(20))
    )
    assert won.count(True) == 1


async def test_recovery_takes_back_only_claims_older_than_the_lease(
    two: tuple[Database, Database],
) -> None:
    """A process starting up leaves a claim another process made just now, and takes back one
    older than the lease; later passes look again, so a claim that ages is taken too."""
    a, b = two
    fresh, old = await queue_text(a, "+15550001111"), await queue_text(a, "+15550002222")
    await a.write(lambda tx: tx.execute("UPDATE outbox SET status = 'sending', attempt_id = 'x'"))
    await set_claimed_at(a, fresh, 0)
    await set_claimed_at(a, old, 5)
    recovery = retry.Recovery(
        b, lambda db, before: delivery.recover(db, before, 0), 2.0, "texts", every=0.1
    )
    await recovery.at_start()
    statuses = {r["id"]: r["status"] for r in await b.fetch_all("SELECT id, status FROM outbox")}
    assert statuses == {fresh: "sending", old: "pending"}
    await set_claimed_at(a, fresh, 5)
    await recovery.when_due()  # too soon after the last look: nothing happens
    assert await b.fetch_value("SELECT status FROM outbox WHERE id = :id", {"id": fresh}) == (
        "sending"
    )
    await asyncio.sleep(0.2)
    await recovery.when_due()
    assert await b.fetch_value("SELECT status FROM outbox WHERE id = :id", {"id": fresh}) == (
        "pending"
    )


async def test_webhook_and_mail_recovery_keep_fresh_claims(two: tuple[Database, Database]) -> None:
    """The webhook and notification queues recover the same way: a claim within the lease stays."""
    a, _ = two
    now = times.now()
    before = times.iso(now - timedelta(seconds=60))
    tenant = await a.fetch_value("SELECT id FROM tenants ORDER BY id LIMIT 1")

    async def seed(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO webhooks (tenant_id, url, events, secret, active, created_at,"
            " updated_at) VALUES (:t, 'https://hooks.example.com/x', '[]', 's', 1, :now, :now)",
            {"t": tenant, "now": times.iso(now)},
        )
        for age in (0, 120):
            at = times.iso(now - timedelta(seconds=age))
            await tx.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event, data, status, attempts,"
                " next_attempt_at, queued_at, created_at, updated_at) SELECT id, 'x', '{}',"
                " 'sending', 1, :at, :at, :at, :at FROM webhooks",
                {"at": at},
            )
            await tx.execute(
                "INSERT INTO notifications (tenant_id, channel, kind, payload, status, attempts,"
                " next_attempt_at, created_at, updated_at) VALUES (:t, 'email', 'test', '{}',"
                " 'sending', 1, :at, :at, :at)",
                {"t": tenant, "at": at},
            )

    await a.write(seed)
    assert await deliveries.recover(a, before) == 1
    assert await notifications.recover(a, before) == 1
    for table in ("webhook_deliveries", "notifications"):
        rows = await a.fetch_all(f"SELECT status FROM {table} ORDER BY id")
        assert [row["status"] for row in rows] == ["sending", "retrying"]


async def test_one_alert_window_for_two_escalations_at_once(
    two: tuple[Database, Database],
) -> None:
    """Two escalations of one site in concurrent transactions: one alert goes out at once, the
    other is counted toward the summary (never two alerts in one interval)."""
    a, b = two
    site_id = await a.fetch_value("SELECT id FROM sites ORDER BY id LIMIT 1")
    start = times.now()
    # First with no window yet, then with one whose interval has long ended.
    for now in (start, start + timedelta(seconds=600)):
        claim = functools.partial(
            alert_windows.claim, site_id=site_id, kind="escalated", now=now, interval=300
        )
        outcomes = await asyncio.gather(*((a, b)[n % 2].write(claim) for n in range(20)))
        assert outcomes.count(True) == 1
        row = await a.fetch_one("SELECT escalated, due_at FROM alert_windows")
        assert row is not None and row["escalated"] == 19 and row["due_at"] is not None
        await a.write(lambda tx: tx.execute("UPDATE alert_windows SET due_at = NULL"))


async def test_the_webhook_cap_holds_for_creations_at_once(two: tuple[Database, Database]) -> None:
    """More creations than the cap allows, at once on two pools: the tenant gets exactly the
    cap (an advisory lock orders the count-then-insert on PostgreSQL)."""
    a, b = two
    owner = await a.fetch_one("SELECT id, tenant_id FROM users ORDER BY id LIMIT 1")
    assert owner is not None

    async def create(n: int) -> bool:
        try:
            await endpoints.create(
                (a, b)[n % 2],
                owner["tenant_id"],
                owner["id"],
                f"https://hooks.example.com/{n}",
                ["message.created"],
                None,
            )
        except Invalid:
            return False
        return True

    created = await asyncio.gather(*(create(n) for n in range(endpoints.MAX_WEBHOOKS + 6)))
    assert created.count(True) == endpoints.MAX_WEBHOOKS
    count = await a.fetch_value("SELECT COUNT(*) FROM webhooks")
    assert count == endpoints.MAX_WEBHOOKS


async def test_one_process_downloads_a_media_item(two: tuple[Database, Database]) -> None:
    """Both fetchers read the same due media item: one claim wins, and the item is not due
    again (for any process) until the winner's lease ends."""
    a, b = two
    site = await sites.site_by_id(a, await a.fetch_value("SELECT MIN(id) FROM sites"))
    assert site is not None
    visitor_id = await incoming.contact(a, site, "sms", "+15550003333", None)

    async def queue_media(tx: Tx, stored: Any) -> None:
        await media.enqueue(tx, stored, visitor_id, ("https://api.twilio.com/media/1",))

    await inbound.receive(a, site, visitor_id, "sms", "a photo", "MM1", also=queue_media)
    [seen_by_a], [seen_by_b] = await media.due(a, 4), await media.due(b, 4)
    won = await asyncio.gather(
        *(media.claim((a, b)[n % 2], (seen_by_a, seen_by_b)[n % 2], 120) for n in range(10))
    )
    assert won.count(True) == 1
    assert await media.due(a, 4) == [] and await media.due(b, 4) == []
