"""Escalation rules on a real migrated database (no server): steps, clocks, races, auto-close.

Time is passed in explicitly (`now=`), so a test of a two-minute step runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from omnichat import sites, times
from omnichat.chat import conversations, escalation, inbound, messages, visitors
from omnichat.chat.alerts import Alerts
from omnichat.chat.escalation import Step, plan
from omnichat.metrics import Metrics
from omnichat.sites import DEFAULT_ESCALATION, DEFAULT_PATIENCE, Site, SiteSettings
from omnichat.storage.db import Database, Tx, json_values
from omnichat.twilio import outbox

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=times.now().tzinfo)
ALWAYS_CLOSED: dict[str, Any] = {"timezone": "Europe/Paris", "days": {}}
ALWAYS_OPEN: dict[str, Any] = {
    "timezone": "Europe/Paris",
    "days": {
        day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    },
}


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


# --- the step rules, without I/O ---


def test_plan_runs_patience_then_escalation_at_their_times() -> None:
    """Before patience nothing is due; then patience; then escalation; then nothing more."""
    settings = SiteSettings(patience_seconds=30, escalate_seconds=120)
    first = plan(settings, T0, Step(0), T0 + seconds(10))
    assert first.due == () and first.next_at == T0 + seconds(30)
    second = plan(settings, T0, Step(0), T0 + seconds(31))
    assert [s for s, _ in second.due] == [Step.PATIENCE]
    assert second.next_at == T0 + seconds(120)
    third = plan(settings, T0, second.done, T0 + seconds(121))
    assert [s for s, _ in third.due] == [Step.ESCALATE] and third.next_at is None
    assert plan(settings, T0, third.done, T0 + seconds(999)).due == ()


def test_plan_after_downtime_runs_both_steps_once_in_order() -> None:
    """Steps that both came due while the server was down run together, patience first."""
    result = plan(SiteSettings(), T0, Step(0), T0 + timedelta(hours=1))
    assert [s for s, _ in result.due] == [Step.PATIENCE, Step.ESCALATE]
    assert [at for _, at in result.due] == [T0 + seconds(30), T0 + seconds(120)]
    assert result.done == escalation.ALL_STEPS and result.next_at is None


@pytest.mark.parametrize(
    ("patience", "escalate", "expected"),
    [
        (0, 120, [Step.ESCALATE]),
        (30, 0, [Step.PATIENCE]),
        (0, 0, []),
        (120, 60, [Step.ESCALATE]),  # patience after escalation would make no sense
        (60, 60, [Step.ESCALATE]),
    ],
)
def test_plan_skips_steps_switched_off_or_pointless(
    patience: int, escalate: int, expected: list[Step]
) -> None:
    """0 turns a step off, and patience no earlier than escalation is skipped."""
    settings = SiteSettings(patience_seconds=patience, escalate_seconds=escalate)
    result = plan(settings, T0, Step(0), T0 + timedelta(hours=1))
    assert [s for s, _ in result.due] == expected
    assert result.next_at is None


# --- steps against the database ---


class World:
    """The default site of a migrated database, and ways to act on it."""

    def __init__(self, db: Database, alerts: Alerts) -> None:
        self.db = db
        self.alerts = alerts
        self.metrics = Metrics()

    async def site(self, **settings: Any) -> Site:
        async def op(tx: Tx) -> None:
            await tx.execute(
                "UPDATE sites SET settings = :settings WHERE id = 1",
                {"settings": orjson.dumps(settings).decode()},
            )

        await self.db.write(op)
        site = await sites.site_by_id(self.db, 1)
        assert site is not None
        return site

    async def visitor_says(self, site: Site, text: str, visitor_id: int | None = None) -> int:
        """The visitor's message (a new visitor unless given); returns the conversation id."""
        if visitor_id is None:
            _, visitor = await visitors.start_session(self.db, site, None)
            visitor_id = visitor.id
        stored = await inbound.receive(self.db, site, visitor_id, "web", text, uuid.uuid4().hex)
        return stored.conversation.id

    async def agent_says(self, conversation_id: int, text: str, private: bool = False) -> None:
        """A reply (or note) by the owner, queued for the writer at once (no read first)."""

        async def op(tx: Tx) -> None:
            owner = await tx.fetch_one("SELECT id, name FROM users ORDER BY id LIMIT 1")
            assert owner is not None
            await messages.insert(
                tx,
                conversation_id,
                "agent",
                text,
                author=(owner["id"], owner["name"]),
                private=private,
            )

        await self.db.write(op)

    async def clock(self, conversation_id: int) -> datetime:
        value = await self.db.fetch_value(
            "SELECT waiting_since FROM conversations WHERE id = :id", {"id": conversation_id}
        )
        assert value is not None, "the clock is not running"
        return times.parse(value)

    async def step(self, site: Site, conversation_id: int, at: datetime) -> None:
        """One conversation's due steps as a writer operation of its own, like a pass runs them."""
        await self.db.write(
            lambda tx: escalation.advance(tx, self.alerts, site, conversation_id, at)
        )

    async def tick(self, at: datetime) -> None:
        await escalation.tick(self.db, self.alerts, self.metrics, now=at)

    async def transcript(self, conversation_id: int) -> list[tuple[str, str]]:
        found = await messages.page_after(self.db, conversation_id, 0, public_only=False)
        return [(m.sender, m.text) for m in found]

    async def status(self, conversation_id: int) -> str:
        value = await self.db.fetch_value(
            "SELECT status FROM conversations WHERE id = :id", {"id": conversation_id}
        )
        return str(value)

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT data FROM events WHERE type = :type ORDER BY id", {"type": event_type}
        )
        return [orjson.loads(row["data"]) for row in rows]


@pytest.fixture
async def world(database: Database) -> AsyncIterator[World]:
    alerts = Alerts(database, Metrics(), outbox.enqueue_alert)
    await alerts.start()
    yield World(database, alerts)
    await alerts.close()


def system_texts(transcript: list[tuple[str, str]]) -> list[str]:
    return [text for sender, text in transcript if sender == "system"]


GREETING = SiteSettings().greeting


async def test_patience_and_escalation_fire_once_each(world: World) -> None:
    """Patience after 30 s and escalation after 120 s, each once however often the job runs."""
    site = await world.site()
    conversation_id = await world.visitor_says(site, "anyone there?")
    clock = await world.clock(conversation_id)
    await world.tick(clock + seconds(29))
    assert system_texts(await world.transcript(conversation_id)) == [GREETING]
    for _ in range(3):
        await world.tick(clock + seconds(31))
    assert system_texts(await world.transcript(conversation_id)) == [GREETING, DEFAULT_PATIENCE]
    assert await world.status(conversation_id) == "open"
    for _ in range(3):
        await world.tick(clock + seconds(121))
    assert system_texts(await world.transcript(conversation_id)) == [
        GREETING,
        DEFAULT_PATIENCE,
        DEFAULT_ESCALATION,
    ]
    assert await world.status(conversation_id) == "escalated"
    updates = [e["conversation"] for e in await world.events("conversation.updated")]
    assert [c["status"] for c in updates if c["id"] == conversation_id] == ["escalated"]


async def test_agent_reply_stops_the_clock_but_a_note_does_not(world: World) -> None:
    """A private note leaves the visitor waiting; a public reply ends the wait for good."""
    site = await world.site()
    noted = await world.visitor_says(site, "hello")
    clock = await world.clock(noted)
    await world.agent_says(noted, "looking into it", private=True)
    await world.tick(clock + seconds(31))
    assert DEFAULT_PATIENCE in system_texts(await world.transcript(noted))

    answered = await world.visitor_says(site, "hello")
    clock = await world.clock(answered)
    await world.tick(clock + seconds(31))
    await world.agent_says(answered, "Hi, how can I help?")
    await world.tick(clock + timedelta(hours=1))
    assert system_texts(await world.transcript(answered)) == [GREETING, DEFAULT_PATIENCE]
    assert await world.status(answered) == "open"


async def test_system_messages_never_move_the_clock(world: World) -> None:
    """The patience message leaves the clock where it was: escalation still comes at 120 s."""
    site = await world.site()
    conversation_id = await world.visitor_says(site, "hello")
    clock = await world.clock(conversation_id)
    await world.tick(clock + seconds(31))
    assert await world.clock(conversation_id) == clock
    await world.visitor_says(site, "still here", await visitor_of(world, conversation_id))
    assert await world.clock(conversation_id) == clock
    await world.tick(clock + seconds(121))
    assert await world.status(conversation_id) == "escalated"


async def visitor_of(world: World, conversation_id: int) -> int:
    return int(
        await world.db.fetch_value(
            "SELECT visitor_id FROM conversations WHERE id = :id", {"id": conversation_id}
        )
    )


async def test_a_visitor_message_after_a_reply_starts_a_new_clock(world: World) -> None:
    """After an answer, the visitor's next message gets its own patience and escalation."""
    site = await world.site()
    conversation_id = await world.visitor_says(site, "hello")
    first = await world.clock(conversation_id)
    await world.tick(first + seconds(31))
    await world.agent_says(conversation_id, "Hi!")
    await world.visitor_says(site, "one more question", await visitor_of(world, conversation_id))
    second = await world.clock(conversation_id)
    assert second > first
    await world.tick(second + seconds(121))
    texts = system_texts(await world.transcript(conversation_id))
    assert texts == [GREETING, DEFAULT_PATIENCE, DEFAULT_PATIENCE, DEFAULT_ESCALATION]


async def test_reopen_starts_a_new_clock(world: World) -> None:
    """A conversation closed while the visitor waited starts afresh when they write again."""
    site = await world.site()
    conversation_id = await world.visitor_says(site, "hello")
    first = await world.clock(conversation_id)
    await world.tick(first + seconds(121))

    async def close(tx: Tx) -> None:
        await conversations.set_status(tx, conversation_id, "closed")

    await world.db.write(close)
    await world.tick(first + timedelta(hours=1))
    await world.visitor_says(site, "back again", await visitor_of(world, conversation_id))
    assert await world.status(conversation_id) == "open"
    second = await world.clock(conversation_id)
    assert second > first
    await world.tick(second + seconds(31))
    texts = system_texts(await world.transcript(conversation_id))
    assert texts == [GREETING, DEFAULT_PATIENCE, DEFAULT_ESCALATION, GREETING, DEFAULT_PATIENCE]


async def test_steps_due_while_down_fire_once_in_order(world: World) -> None:
    """A pass long after both due times sends patience then escalation, and later passes nothing."""
    site = await world.site(patience_text="still looking", escalate_text="no one is free")
    conversation_id = await world.visitor_says(site, "hello")
    clock = await world.clock(conversation_id)
    await asyncio.gather(*(world.tick(clock + timedelta(hours=2)) for _ in range(3)))
    await world.tick(clock + timedelta(hours=3))
    assert system_texts(await world.transcript(conversation_id)) == [
        GREETING,
        "still looking",
        "no one is free",
    ]


async def test_reply_racing_the_escalation_never_escalates_an_answered_wait(world: World) -> None:
    """Whichever commits first wins; no step ever lands after the reply that ended the wait."""
    site = await world.site(patience_seconds=10, escalate_seconds=20)
    outcomes = set()
    for _ in range(40):
        conversation_id = await world.visitor_says(site, "race")
        clock = await world.clock(conversation_id)
        racers = [
            world.step(site, conversation_id, clock + seconds(25)),
            world.agent_says(conversation_id, "answer"),
            world.tick(clock + seconds(25)),
        ]
        random.shuffle(racers)
        await asyncio.gather(*racers)
        transcript = await world.transcript(conversation_id)
        reply_at = transcript.index(("agent", "answer"))
        after = system_texts(transcript[reply_at:])
        assert after == [], "a step landed after the reply"
        before = system_texts(transcript[:reply_at])
        assert before.count(DEFAULT_PATIENCE) <= 1 and before.count(DEFAULT_ESCALATION) <= 1
        escalated = DEFAULT_ESCALATION in before
        assert (await world.status(conversation_id) == "escalated") == escalated
        outcomes.add(escalated)
    # Both orders happened, so both were checked.
    assert outcomes == {True, False}


async def test_a_burst_of_due_conversations_escalates_in_one_pass(world: World) -> None:
    """500 conversations due at once are all escalated by a single pass, each exactly once."""
    site = await world.site(patience_seconds=0, escalate_seconds=60)
    ids = await asyncio.gather(*(world.visitor_says(site, f"burst {n}") for n in range(500)))
    latest = max([await world.clock(i) for i in ids])
    started = time.perf_counter()
    await world.tick(latest + seconds(61))
    elapsed = time.perf_counter() - started
    statuses = await world.db.fetch_all(
        "SELECT status, COUNT(*) AS n FROM conversations WHERE id IN"
        f" ({json_values(world.db.dialect, 'ids')}) GROUP BY status",
        {"ids": orjson.dumps(ids).decode()},
    )
    assert {row["status"]: row["n"] for row in statuses} == {"escalated": 500}
    count = await world.db.fetch_value(
        "SELECT COUNT(*) FROM messages WHERE text = :text", {"text": DEFAULT_ESCALATION}
    )
    assert count == 500
    print(f"500 escalations in one pass: {elapsed:.3f} s")


async def test_auto_close_closes_quiet_conversations_and_says_so(world: World) -> None:
    """After auto_close_minutes without activity the conversation closes with a message."""
    site = await world.site(auto_close_minutes=5, patience_seconds=0, escalate_seconds=0)
    conversation_id = await world.visitor_says(site, "hello")
    clock = await world.clock(conversation_id)
    await escalation.auto_close(world.db, world.metrics, now=clock + seconds(250))
    assert await world.status(conversation_id) == "open"
    await escalation.auto_close(world.db, world.metrics, now=clock + seconds(301))
    assert await world.status(conversation_id) == "closed"
    assert system_texts(await world.transcript(conversation_id))[-1] == escalation.AUTO_CLOSED_TEXT
    assert (
        await world.db.fetch_value(
            "SELECT waiting_since FROM conversations WHERE id = :id", {"id": conversation_id}
        )
        is None
    )


async def test_auto_close_off_by_default(world: World) -> None:
    """With the default (0) nothing closes, however long the conversation is quiet."""
    site = await world.site(patience_seconds=0, escalate_seconds=0)
    conversation_id = await world.visitor_says(site, "hello")
    later = await world.clock(conversation_id) + timedelta(days=30)
    await escalation.auto_close(world.db, world.metrics, now=later)
    assert await world.status(conversation_id) == "open"


async def test_outside_business_hours_the_away_text_answers_at_once(world: World) -> None:
    """Closed: no greeting, the away text after the message, escalated at once, no steps later."""
    site = await world.site(business_hours=ALWAYS_CLOSED, away_text="We are closed.")
    conversation_id = await world.visitor_says(site, "hello?")
    assert await world.transcript(conversation_id) == [
        ("visitor", "hello?"),
        ("system", "We are closed."),
    ]
    assert await world.status(conversation_id) == "escalated"
    clock = await world.clock(conversation_id)
    await world.tick(clock + timedelta(hours=1))
    assert system_texts(await world.transcript(conversation_id)) == ["We are closed."]


async def test_inside_business_hours_nothing_changes(world: World) -> None:
    """Open: the greeting, status open, and the usual steps."""
    site = await world.site(business_hours=ALWAYS_OPEN)
    conversation_id = await world.visitor_says(site, "hello?")
    assert await world.transcript(conversation_id) == [("system", GREETING), ("visitor", "hello?")]
    assert await world.status(conversation_id) == "open"
    await world.tick(await world.clock(conversation_id) + seconds(31))
    assert DEFAULT_PATIENCE in system_texts(await world.transcript(conversation_id))


async def test_a_pass_with_nothing_due_reads_one_index(world: World) -> None:
    """The due query walks the partial index on next_step_at, never the whole table."""
    if world.db.dialect != "sqlite":
        pytest.skip("reads SQLite's EXPLAIN QUERY PLAN")
    plan_rows = await world.db.fetch_all(
        "EXPLAIN QUERY PLAN " + escalation.DUE, {"now": times.now_iso(), "limit": 10}
    )
    details = " ".join(row["detail"] for row in plan_rows)
    assert "conversations_next_step" in details and "SCAN conversations" not in details
