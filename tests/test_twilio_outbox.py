"""The outbox and its sender, in process: real database, real HTTP to a Twilio stand-in."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from omnichat import sites
from omnichat.chat import messages
from omnichat.chat.messages import Stored
from omnichat.errors import Invalid
from omnichat.metrics import Metrics
from omnichat.settings import Secret, TwilioSettings
from omnichat.sites import Site
from omnichat.storage.db import Database, Tx
from omnichat.twilio import delivery, incoming, outbox
from omnichat.twilio.circuit import Circuit
from omnichat.twilio.sender import Sender, backoff
from tests.timing import eventually_async
from tests.twilio_standin import Answer, TwilioStandIn, standin

__all__ = ["standin"]

SMS_NUMBER = "+15550009000"
WHATSAPP_NUMBER = "+15550009001"


def twilio_settings(standin: TwilioStandIn, **overrides: Any) -> TwilioSettings:
    values: dict[str, Any] = {
        "account_sid": standin.account_sid,
        "auth_token": Secret(standin.auth_token),
        "public_base_url": "https://chat.example.test",
        "api_base_url": standin.base_url,
        "request_timeout_seconds": 2.0,
        "retry_base_seconds": 0.02,
        "retry_max_seconds": 0.05,
        "circuit_failures": 50,
        "circuit_pause_seconds": 0.3,
        "unknown_outcome_grace_seconds": 30.0,
        "per_number_per_minute": 0,
    }
    values.update(overrides)
    return TwilioSettings(**values)


async def texting_site(db: Database) -> Site:
    """The default site, with an SMS and a WhatsApp number."""

    async def op(tx: Tx) -> int:
        row = await tx.fetch_one("SELECT id FROM sites ORDER BY id LIMIT 1")
        assert row is not None
        await tx.execute(
            "UPDATE sites SET sms_number = :sms, whatsapp_number = :wa WHERE id = :id",
            {"sms": SMS_NUMBER, "wa": WHATSAPP_NUMBER, "id": row[0]},
        )
        return int(row[0])

    site = await sites.site_by_id(db, await db.write(op))
    assert site is not None
    return site


async def text_in(db: Database, phone: str, body: str = "hello", channel: str = "sms") -> Stored:
    """A contact's text, as a verified webhook would store it."""
    receiver = SMS_NUMBER if channel == "sms" else WHATSAPP_NUMBER
    sid = f"SM{time.monotonic_ns():032x}"
    stored = await incoming.receive(
        db, incoming.Text(sid, channel, phone, receiver, body, (), None)
    )
    assert stored is not None
    return stored


async def reply(db: Database, conversation_id: int, text: str, **kw: Any) -> Stored:
    owner = await db.fetch_one("SELECT id, name FROM users ORDER BY id LIMIT 1")
    assert owner is not None
    return await db.write(
        lambda tx: messages.insert(
            tx, conversation_id, "agent", text, author=(owner["id"], owner["name"]), **kw
        )
    )


async def outbox_rows(db: Database) -> list[dict[str, Any]]:
    return [dict(row) for row in await db.fetch_all("SELECT * FROM outbox ORDER BY id")]


@pytest.fixture
async def running(database: Database, standin: TwilioStandIn) -> AsyncIterator[Callable[..., Any]]:
    """Start a Sender on the test database against the stand-in (stopped at the end)."""
    started: list[Sender] = []

    async def start(**overrides: Any) -> Sender:
        sender = Sender(twilio_settings(standin, **overrides), database, Metrics())
        await sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        await sender.stop()


async def test_replies_are_queued_with_their_message(database: Database) -> None:
    """Greeting and agent reply get outbox rows in their transaction; private notes none."""
    await texting_site(database)
    first = await text_in(database, "+15550100001")
    conversation = first.conversation
    sent = await reply(database, conversation.id, "We are on it", client_id="r1")
    await reply(database, conversation.id, "internal note", private=True)
    rows = await outbox_rows(database)
    assert [(r["kind"], r["body"], r["status"]) for r in rows] == [
        ("reply", "Connecting you with a staff member, please wait...", "pending"),
        ("reply", "We are on it", "pending"),
    ]
    assert rows[1]["to_number"] == "+15550100001" and rows[1]["from_number"] == SMS_NUMBER
    assert sent.message.to_json()["delivery"] == {
        "status": "pending",
        "error_code": None,
        "error_message": None,
    }
    history = await messages.page_after(database, conversation.id, 0, public_only=False)
    assert [m.to_json().get("delivery", {}).get("status") for m in history] == [
        "pending",
        None,
        "pending",
        None,
    ]


async def test_agent_text_over_the_limit_is_refused_and_not_stored(database: Database) -> None:
    """An agent's SMS over 1600 characters is a 422 naming "text"; nothing is stored or queued."""
    await texting_site(database)
    conversation = (await text_in(database, "+15550100002")).conversation
    with pytest.raises(Invalid) as refused:
        await reply(database, conversation.id, "x" * 1601)
    assert refused.value.field == "text" and "1600" in refused.value.message
    # Emoji count twice, as Twilio counts them.
    with pytest.raises(Invalid):
        await reply(database, conversation.id, "😀" * 801)
    await reply(database, conversation.id, "x" * 1600)
    history = await messages.page_after(database, conversation.id, 0)
    assert [len(m.text) for m in history if m.sender == "agent"] == [1600]
    assert len(await outbox_rows(database)) == 2


async def test_outage_then_recovery_delivers_each_reply_once(
    database: Database, standin: TwilioStandIn, running: Callable[..., Any]
) -> None:
    """Twilio answers 500 for a while, then 201: every text is accepted exactly once, in order."""
    standin.plan(*[Answer(500, 20500, "Internal error")] * 6)
    await texting_site(database)
    conversation = (await text_in(database, "+15550100003")).conversation
    for index in range(3):
        await reply(database, conversation.id, f"reply {index}")
    await running()
    accepted = await asyncio.to_thread(standin.wait_for, 4)
    await eventually_async(lambda: all_settled(database))
    bodies = [sent.body for sent in accepted]
    assert bodies == [
        "Connecting you with a staff member, please wait...",
        "reply 0",
        "reply 1",
        "reply 2",
    ]
    assert len(standin.requests) == 10
    rows = await outbox_rows(database)
    assert {row["status"] for row in rows} == {"queued"}
    assert all(row["provider_sid"] for row in rows)


async def all_settled(db: Database) -> bool:
    rows = await outbox_rows(db)
    return bool(rows) and all(row["status"] not in ("pending", "sending") for row in rows)


async def test_permanent_refusal_fails_without_retry(
    database: Database, standin: TwilioStandIn, running: Callable[..., Any]
) -> None:
    """A 400 with Twilio's error code fails the text at once, visibly, and is not retried."""
    await texting_site(database)
    standin.plan(Answer(400, 21211, "The 'To' number is not a valid phone number."))
    conversation = (await text_in(database, "+15550100004")).conversation
    await running()
    await eventually_async(lambda: all_settled(database))
    history = await messages.page_after(database, conversation.id, 0)
    greeting = history[0].to_json()
    assert greeting["delivery"]["status"] == "failed"
    assert greeting["delivery"]["error_code"] == "21211"
    assert "not a valid phone number" in greeting["delivery"]["error_message"]
    assert len(standin.requests) == 1
    # The agent's next reply still goes out: one refusal does not block the number.
    await reply(database, conversation.id, "second try")
    assert [s.body for s in await asyncio.to_thread(standin.wait_for, 1)] == ["second try"]


async def test_circuit_pauses_sending_and_recovers(
    database: Database, standin: TwilioStandIn, running: Callable[..., Any]
) -> None:
    """After 3 failures in a row no call is made for the pause; then a trial succeeds."""
    await texting_site(database)
    standin.plan(*[Answer(503, None, "down")] * 3)
    await text_in(database, "+15550100005")
    sender = await running(circuit_failures=3, circuit_pause_seconds=0.5)
    await asyncio.to_thread(standin.wait_for, 1)
    times = standin.request_times
    # Retries come 10-50 ms apart; the fourth call waited out the half-second pause.
    assert len(times) == 4
    assert times[3] - times[2] >= 0.5
    # The stand-in records the trial before it answers; the circuit closes on the answer.
    await eventually_async(lambda: sender.circuit.state == "closed", what="the circuit to close")


async def test_unknown_outcome_is_settled_by_the_status_callback(
    database: Database, standin: TwilioStandIn, running: Callable[..., Any]
) -> None:
    """A call that timed out after Twilio took it is not resent once the callback proves it."""
    await texting_site(database)
    standin.release.clear()
    await text_in(database, "+15550100006")
    await running(request_timeout_seconds=0.3, unknown_outcome_grace_seconds=30)
    [sent] = await asyncio.to_thread(standin.wait_for, 1)
    row = await eventually_async(lambda: pending_row(database))
    assert row["error_code"] == "timeout"
    standin.release.set()
    query = dict(pair.split("=") for pair in sent.status_callback.split("?")[1].split("&"))
    callback = delivery.Callback(sent.sid, "sent", None, int(query["outbox"]), query["attempt"])
    assert await delivery.record_callback(database, callback)
    [row] = await outbox_rows(database)
    assert row["status"] == "sent" and row["provider_sid"] == sent.sid
    assert not await outbox.due(database, "9999-12-31T00:00:00.000Z", 10)


async def pending_row(db: Database) -> dict[str, Any] | None:
    rows = await outbox_rows(db)
    return rows[0] if rows and rows[0]["status"] == "pending" and rows[0]["attempts"] else None


async def test_per_number_cap_holds_texts_back(
    database: Database, standin: TwilioStandIn, running: Callable[..., Any]
) -> None:
    """With a cap of 2 a minute, the third text to one number waits while another number's goes."""
    await texting_site(database)
    conversation = (await text_in(database, "+15550100007")).conversation
    await reply(database, conversation.id, "one")
    await reply(database, conversation.id, "two")
    await running(per_number_per_minute=2)
    await asyncio.to_thread(standin.wait_for, 2)
    await text_in(database, "+15550100008")
    accepted = await asyncio.to_thread(standin.wait_for, 3)
    assert [s.to for s in accepted].count("+15550100007") == 2
    rows = await outbox_rows(database)
    held = [row for row in rows if row["body"] == "two"]
    assert held[0]["status"] == "pending" and held[0]["attempts"] == 0


async def test_alerts_go_only_to_the_site_alert_numbers(database: Database) -> None:
    """An alert is queued for each admin-set alert number, from the site's SMS number."""
    site = await texting_site(database)
    settings = dataclasses.replace(site.settings, alert_numbers=["+15550101000", "bogus"])
    site = dataclasses.replace(site, settings=settings)
    queued = await database.write(lambda tx: outbox.enqueue_alert(tx, site, "Help!"))
    assert queued == 1
    [row] = await outbox_rows(database)
    assert (row["kind"], row["to_number"], row["from_number"], row["message_id"]) == (
        "alert",
        "+15550101000",
        SMS_NUMBER,
        None,
    )


def test_circuit_states_follow_failures() -> None:
    """Closed until the threshold, open for the pause, then half-open; a failed trial reopens."""
    now = [0.0]
    circuit = Circuit(failures=2, pause_seconds=10, clock=lambda: now[0])
    circuit.failed()
    assert circuit.state == "closed"
    circuit.failed()
    assert circuit.state == "open" and circuit.seconds_until_trial() == 10
    now[0] = 10.0
    assert circuit.state == "half_open"
    circuit.failed()
    assert circuit.state == "open"
    now[0] = 20.0
    circuit.succeeded()
    assert circuit.state == "closed"


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    """Delays double from the base, stay within [half, full] of it, and never pass the cap."""
    settings = TwilioSettings(retry_base_seconds=1.0, retry_max_seconds=8.0)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [backoff(settings, attempt) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1
