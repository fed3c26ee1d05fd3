"""Report figures on a hand-built history with known answers, stored with the schema from before
the reports (migration 0024 then backfills the facts the figures read): time-zone boundaries, a
summer-time change, a conversation spanning days, a reopen after close, private notes and
system messages that are not responses, filters, tenants."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from omnichat.chat.agent_actions import CLOSED_TEXT
from omnichat.chat.escalation import AUTO_CLOSED_TEXT
from omnichat.reports import figures
from omnichat.reports.period import Period
from omnichat.storage import bootstrap, migrations
from omnichat.storage.db import Database, SQLiteDatabase

UTC = ZoneInfo("UTC")
Built = tuple[Database, "History", dict[str, int]]
BERLIN = ZoneInfo("Europe/Berlin")


class History:
    """Rows written straight into a database that has only the migrations before 0024."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection
        bootstrap.create_user(connection, "acme", "ada@example.com", "Ada", "admin", "h", False)
        bootstrap.create_user(connection, "acme", "bob@example.com", "Bob", "agent", "h", False)
        bootstrap.create_user(connection, "other", "eve@example.com", "Eve", "admin", "h", False)
        self.ada, self.bob, self.eve = (
            row[0] for row in connection.execute("SELECT id FROM users ORDER BY id")
        )
        self.main = self.site(1, "Main")
        self.second = self.site(1, "Second")
        self.foreign = self.site(2, "Elsewhere")

    def site(self, tenant: int, name: str) -> int:
        return (
            self.db.execute(
                "INSERT INTO sites (tenant_id, name, site_key, created_at, updated_at)"
                " VALUES (?, ?, ?, 'x', 'x')",
                (tenant, name, f"key-{name}"),
            ).lastrowid
            or 0
        )

    def conversation(
        self,
        site: int,
        created: str,
        *,
        tenant: int = 1,
        channel: str = "web",
        status: str = "open",
        assignee: int | None = None,
        updated: str | None = None,
        closed: str | None = None,
        rating: int | None = None,
    ) -> int:
        visitor = self.db.execute(
            "INSERT INTO visitors (tenant_id, site_id, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?)",
            (tenant, site, created, created),
        ).lastrowid
        return (
            self.db.execute(
                "INSERT INTO conversations (tenant_id, site_id, visitor_id, channel, status,"
                " assignee_id, created_at, updated_at, closed_at, rating_score, rated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tenant,
                    site,
                    visitor,
                    channel,
                    status,
                    assignee,
                    created,
                    updated or created,
                    closed,
                    rating,
                    None if rating is None else closed,
                ),
            ).lastrowid
            or 0
        )

    def messages(self, conversation: int, *items: tuple[str, str, int | None, bool, str]) -> None:
        for seq, (at, sender, author, private, text) in enumerate(items, start=1):
            self.db.execute(
                "INSERT INTO messages (conversation_id, seq, sender, author_id, text, private,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation, seq, sender, author, text, int(private), at),
            )
        self.db.execute(
            "UPDATE conversations SET last_seq = ? WHERE id = ?", (len(items), conversation)
        )


def visitor(at: str) -> tuple[str, str, int | None, bool, str]:
    return (at, "visitor", None, False, "hello")


def system(at: str, text: str = "Connecting you...") -> tuple[str, str, int | None, bool, str]:
    return (at, "system", None, False, text)


def agent(at: str, who: int, private: bool = False) -> tuple[str, str, int | None, bool, str]:
    return (at, "agent", who, private, "a note" if private else "hi")


@pytest.fixture
async def reports_db(tmp_path: Path) -> AsyncIterator[tuple[Database, History, dict[str, int]]]:
    before = tmp_path / "before"
    before.mkdir()
    for migration in migrations.discover():
        if migration.version < 24:
            (before / f"{migration.version:04d}_{migration.name}.sql").write_text(migration.sql)
    path = tmp_path / "db.sqlite"
    connection = sqlite3.connect(path, isolation_level=None)
    migrations.apply(connection, before)
    h = History(connection)
    ids: dict[str, int] = {}
    # A: opens 23:30 UTC on the 10th (00:30 on the 11th in Berlin); a private note and a
    # system message come before the first public reply (120 s); closed 600 s after the first
    # visitor message; reopened two days later, answered by Bob and closed again; rated 5.
    ids["a"] = h.conversation(
        h.main, "2026-03-10T23:30:00.000Z", status="closed",
        updated="2026-03-12T09:10:00.000Z", closed="2026-03-12T09:10:00.000Z", rating=5,
    )  # fmt: skip
    h.messages(
        ids["a"],
        system("2026-03-10T23:30:00.000Z"),
        visitor("2026-03-10T23:30:00.000Z"),
        agent("2026-03-10T23:31:00.000Z", h.bob, private=True),
        system("2026-03-10T23:31:30.000Z", "Still looking"),
        agent("2026-03-10T23:32:00.000Z", h.ada),
        system("2026-03-10T23:40:00.000Z", CLOSED_TEXT),
        visitor("2026-03-12T09:00:00.000Z"),
        agent("2026-03-12T09:05:00.000Z", h.bob),
        system("2026-03-12T09:10:00.000Z", CLOSED_TEXT),
    )
    connection.execute(
        "INSERT INTO audit (tenant_id, actor_id, action, target, created_at)"
        " VALUES (1, ?, 'conversation.closed', ?, '2026-03-10T23:40:00.000Z')",
        (h.ada, f"conversation:{ids['a']}"),
    )
    # B: nobody answers; a follow-up closes it after 1200 s, then it is auto-closed: missed.
    ids["b"] = h.conversation(
        h.main, "2026-03-11T10:00:00.000Z", status="closed", closed="2026-03-11T10:30:00.000Z"
    )
    h.messages(
        ids["b"],
        visitor("2026-03-11T10:00:00.000Z"),
        system("2026-03-11T10:30:00.000Z", AUTO_CLOSED_TEXT),
    )
    connection.execute(
        "INSERT INTO followups (tenant_id, conversation_id, created_at, updated_at)"
        " VALUES (1, ?, '2026-03-11T10:20:00.000Z', '2026-03-11T10:20:00.000Z')",
        (ids["b"],),
    )
    # C: SMS on the second site, assigned to Bob, answered by Ada in 30 s; escalated once.
    ids["c"] = h.conversation(h.second, "2026-03-11T12:00:00.000Z", channel="sms", assignee=h.bob)
    h.messages(
        ids["c"], visitor("2026-03-11T12:00:00.000Z"), agent("2026-03-11T12:00:30.000Z", h.ada)
    )
    connection.execute(
        "INSERT INTO events (tenant_id, id, type, data, created_at) VALUES (1, 1,"
        " 'conversation.updated', ?, '2026-03-11T12:00:10.000Z')",
        (f'{{"conversation":{{"id":{ids["c"]},"status":"escalated"}}}}',),
    )
    # D: still escalated and waiting: not missed (not closed).
    ids["d"] = h.conversation(
        h.main, "2026-03-11T13:00:00.000Z", status="escalated", updated="2026-03-11T13:05:00.000Z"
    )
    h.messages(ids["d"], visitor("2026-03-11T13:00:00.000Z"))
    # Another tenant's conversation the same day, answered at once: never counted here.
    ids["e"] = h.conversation(h.foreign, "2026-03-11T14:00:00.000Z", tenant=2)
    h.messages(
        ids["e"], visitor("2026-03-11T14:00:00.000Z"), agent("2026-03-11T14:00:01.000Z", h.eve)
    )
    # F: 01:30 in Berlin on the night its clocks go forward (2026-03-29, 02:00 -> 03:00).
    ids["f"] = h.conversation(h.main, "2026-03-29T00:30:00.000Z")
    h.messages(ids["f"], visitor("2026-03-29T00:30:00.000Z"))
    migrations.apply(connection)
    connection.close()
    db = SQLiteDatabase(path)
    await db.connect()
    yield db, h, ids
    await db.close()


def period(first: str, last: str, zone: ZoneInfo = UTC, **filters: object) -> Period:
    return Period(1, date.fromisoformat(first), date.fromisoformat(last), zone, **filters)  # type: ignore[arg-type]


async def test_backfill_derives_each_fact_from_the_stored_history(reports_db: Built) -> None:
    """Migration 0024 fills the facts from messages, the audit log, follow-ups and events."""
    db, h, ids = reports_db
    rows = {
        row["id"]: row
        for row in await db.fetch_all(
            "SELECT id, first_visitor_message_at, first_response_at, first_responder_id,"
            " first_closed_at, escalated_at, visitor_messages, agent_messages FROM conversations"
        )
    }
    a = rows[ids["a"]]
    assert a["first_visitor_message_at"] == "2026-03-10T23:30:00.000Z"
    assert a["first_response_at"] == "2026-03-10T23:32:00.000Z"
    assert a["first_responder_id"] == h.ada
    assert a["first_closed_at"] == "2026-03-10T23:40:00.000Z"
    assert (a["visitor_messages"], a["agent_messages"]) == (2, 2)
    assert rows[ids["b"]]["first_closed_at"] == "2026-03-11T10:20:00.000Z"
    assert rows[ids["b"]]["first_response_at"] is None
    assert rows[ids["c"]]["escalated_at"] == "2026-03-11T12:00:10.000Z"
    assert rows[ids["d"]]["escalated_at"] == "2026-03-11T13:05:00.000Z"
    assert rows[ids["a"]]["escalated_at"] is None


async def test_summary_follows_the_definitions(reports_db: Built) -> None:
    """Counts, medians, p90, missed, escalations, follow-ups and ratings match the history."""
    db, _, _ = reports_db
    assert await figures.summary(db, period("2026-03-10", "2026-03-12")) == {
        "conversations": 4,
        "messages": {"visitor": 5, "agent": 3},
        "first_response_seconds": {"median": 75.0, "p90": 120.0},
        "resolution_seconds": {"median": 900.0, "p90": 1200.0},
        "escalated": 2,
        "followups": 1,
        "rating": {"count": 1, "average": 5.0},
        "missed": 1,
    }


async def test_days_are_the_callers_days(reports_db: Built) -> None:
    """23:30 UTC on the 10th is the 11th in Berlin: the day totals and the series move with tz."""
    db, _, _ = reports_db
    assert (await figures.summary(db, period("2026-03-10", "2026-03-10")))["conversations"] == 1
    berlin_10 = await figures.summary(db, period("2026-03-10", "2026-03-10", BERLIN))
    assert berlin_10["conversations"] == 0
    utc = await figures.timeseries(db, period("2026-03-10", "2026-03-12"), "conversations", "day")
    assert [(p.start, p.value) for p in utc] == [
        ("2026-03-10T00:00:00.000Z", 1),
        ("2026-03-11T00:00:00.000Z", 3),
        ("2026-03-12T00:00:00.000Z", 0),
    ]
    berlin = await figures.timeseries(
        db, period("2026-03-10", "2026-03-12", BERLIN), "conversations", "day"
    )
    assert [(p.start, p.value) for p in berlin] == [
        ("2026-03-09T23:00:00.000Z", 0),
        ("2026-03-10T23:00:00.000Z", 4),
        ("2026-03-11T23:00:00.000Z", 0),
    ]


async def test_series_of_medians_leave_empty_intervals_null(reports_db: Built) -> None:
    """A median per interval; an interval without any answered conversation is null."""
    db, _, _ = reports_db
    points = await figures.timeseries(
        db, period("2026-03-10", "2026-03-12"), "first_response", "day"
    )
    assert [p.value for p in points] == [120.0, 30.0, None]
    ratings = await figures.timeseries(db, period("2026-03-10", "2026-03-12"), "rating", "day")
    assert [p.value for p in ratings] == [5.0, None, None]


async def test_summer_time_day_has_23_hours(reports_db: Built) -> None:
    """Berlin's clocks go forward on 2026-03-29: 23 hourly points, days start at 23:00/22:00 UTC."""
    db, _, _ = reports_db
    hours = await figures.timeseries(
        db, period("2026-03-29", "2026-03-29", BERLIN), "conversations", "hour"
    )
    assert len(hours) == 23
    assert hours[1].start == "2026-03-29T00:00:00.000Z" and hours[1].value == 1
    assert sum(int(p.value or 0) for p in hours) == 1
    days = await figures.timeseries(
        db, period("2026-03-28", "2026-03-30", BERLIN), "conversations", "day"
    )
    assert [p.start for p in days] == [
        "2026-03-27T23:00:00.000Z",
        "2026-03-28T23:00:00.000Z",
        "2026-03-29T22:00:00.000Z",
    ]
    weeks = await figures.timeseries(db, period("2026-03-10", "2026-03-23"), "messages", "week")
    assert [p.start[:10] for p in weeks] == ["2026-03-10", "2026-03-16", "2026-03-23"]
    assert [p.value for p in weeks] == [8, 0, 0]


async def test_filters_narrow_every_figure(reports_db: Built) -> None:
    """Site, channel and agent (the assignee, else the first responder) filters."""
    db, h, _ = reports_db
    days = ("2026-03-10", "2026-03-12")
    second = await figures.summary(db, period(*days, site_id=h.second))
    assert second["conversations"] == 1 and second["first_response_seconds"]["median"] == 30.0
    assert (await figures.summary(db, period(*days, channel="sms")))["conversations"] == 1
    ada = await figures.summary(db, period(*days, agent_id=h.ada))
    assert ada["conversations"] == 1 and ada["rating"] == {"count": 1, "average": 5.0}
    assert (await figures.summary(db, period(*days, site_id=h.second)))["followups"] == 0


async def test_agents_table(reports_db: Built) -> None:
    """One row per member of the tenant, attributed by assignee or first responder."""
    db, h, _ = reports_db
    rows = await figures.agents(db, period("2026-03-10", "2026-03-12"))
    assert [(r["name"], r["conversations"], r["messages"]) for r in rows] == [
        ("Ada", 1, 2),
        ("Bob", 1, 1),
    ]
    assert rows[0]["first_response_seconds"] == {"median": 120.0}
    assert rows[0]["rating"] == {"count": 1, "average": 5.0}
    assert all(r["id"] != h.eve for r in rows)
