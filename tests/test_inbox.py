"""The inbox's domain rules without a server: cursors, filters, search, unread, retention."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid

import pytest

from omnichat import sites, times
from omnichat.chat import events, followups, inbound, inbox, visitors
from omnichat.chat.inbox import Cursor, Filters
from omnichat.errors import Invalid, NotFound
from omnichat.storage import bootstrap
from omnichat.storage.db import Database, Tx
from omnichat.storage.engine import Connection, SyncPostgres
from omnichat.storage.postgres import PostgresDatabase


async def say(db: Database, text: str, site_id: int = 1) -> int:
    """A new visitor of `site_id` writes `text`; returns the conversation id."""
    site = await sites.site_by_id(db, site_id)
    assert site is not None
    _, visitor = await visitors.start_session(db, site, None)
    stored = await inbound.receive(db, site, visitor.id, "web", text, uuid.uuid4().hex)
    return stored.conversation.id


def second_tenant(db: Database) -> int:
    """A second tenant's site id (made the way `create-user --tenant` makes one)."""
    connection: Connection = (
        SyncPostgres(db.url)
        if isinstance(db, PostgresDatabase)
        else sqlite3.connect(db.path, isolation_level=None)
    )
    with contextlib.closing(connection):
        connection.execute("BEGIN IMMEDIATE")
        tenant_id = bootstrap.ensure_tenant(connection, f"t{uuid.uuid4().hex[:6]}")
        connection.execute("COMMIT")
        row = connection.execute("SELECT id FROM sites WHERE tenant_id = ?", (tenant_id,))
        return int(row.fetchone()[0])


def test_cursor_round_trips_and_refuses_forgeries() -> None:
    """A cursor decodes to what was encoded; junk, or a tampered shape, is Invalid("before")."""
    cursor = Cursor("2026-01-02T03:04:05.678Z", 42)
    assert Cursor.decode(cursor.encode()) == cursor
    for junk in ("", "!!!", "bm90IGpzb24", "WzEsMl0", "WyJ4IiwgdHJ1ZV0"):
        with pytest.raises(Invalid) as info:
            Cursor.decode(junk)
        assert info.value.field == "before"


def test_filters_parse_and_name_bad_fields() -> None:
    """Listing parameters become filters; a bad status or assignee is Invalid naming it."""
    assert Filters.parse(None, None, None) == Filters("open", None, None)
    assert Filters.parse("all", "me", "  ") == Filters("all", "me", None)
    assert Filters.parse("closed", "17", "refund") == Filters("closed", 17, "refund")
    for status, assignee, field in (("pending", None, "status"), (None, "-1", "assignee")):
        with pytest.raises(Invalid) as info:
            Filters.parse(status, assignee, None)
        assert info.value.field == field


def test_search_expressions_quote_every_word() -> None:
    """Typed text becomes quoted prefix terms, so FTS5 syntax is searched as text."""
    assert inbox.match_expression('refund "NEAR" (order-42') == '"refund"* "NEAR"* "order"* "42"*'
    for bad in ("!!! ???", "x" * 201):
        with pytest.raises(Invalid):
            inbox.match_expression(bad)


def test_followup_statuses_parse() -> None:
    """No status means the working set; "all" means every status; others are Invalid."""
    assert followups.parse_statuses(None) == ("new", "viewed")
    assert followups.parse_statuses("all") == ("new", "viewed", "archived")
    assert followups.parse_statuses("archived") == ("archived",)
    with pytest.raises(Invalid):
        followups.parse_statuses("deleted")


async def test_pages_cover_every_conversation_once_newest_first(database: Database) -> None:
    """Keyset pages of 3 over 8 matching conversations return each once, newest change first."""
    word = f"w{uuid.uuid4().hex[:8]}"
    made = [await say(database, f"about {word} number {n}") for n in range(8)]
    seen, cursor = [], None
    filters = Filters("all", None, word)
    while True:
        items, cursor = await inbox.page(database, 1, 1, filters, cursor, 3)
        seen += [item.conversation.id for item in items]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    stamps = [(await inbox.item(database, 1, 1, cid)).conversation.updated_at for cid in seen]
    assert stamps == sorted(stamps, reverse=True)


async def test_search_finds_words_by_prefix_and_without_accents(database: Database) -> None:
    """Search matches word prefixes, ignores accents and case, and needs every word."""
    word = f"z{uuid.uuid4().hex[:8]}"
    cafe = await say(database, f"Le Café {word} est fermé")
    other = await say(database, f"{word} only")

    async def found(query: str) -> set[int]:
        items, _ = await inbox.page(database, 1, 1, Filters("all", None, query), None, 50)
        return {item.conversation.id for item in items}

    assert await found(word) == {cafe, other}
    assert await found(f"cafe {word[:5]}") == {cafe}
    assert await found(f"FERME {word}") == {cafe}
    assert await found(f"missing {word}") == set()


async def test_unread_counts_others_messages_after_the_marker(database: Database) -> None:
    """Unread counts visitor messages after the marker, not system texts; marking read clears it."""
    conversation_id = await say(database, "first")
    assert (await inbox.item(database, 1, 1, conversation_id)).unread == 1
    await say_again(database, conversation_id, "second")
    item = await inbox.item(database, 1, 1, conversation_id)
    assert item.unread == 2 and item.last_message is not None
    assert item.last_message.text == "second"
    assert await inbox.mark_read(database, 1, 1, conversation_id, None) == 3
    # A marker never moves back, and never past the last message.
    assert await inbox.mark_read(database, 1, 1, conversation_id, 1) == 3
    assert await inbox.mark_read(database, 1, 1, conversation_id, 99) == 3
    assert (await inbox.item(database, 1, 1, conversation_id)).unread == 0


async def say_again(db: Database, conversation_id: int, text: str) -> None:
    row = await db.fetch_one(
        "SELECT visitor_id, site_id FROM conversations WHERE id = :id", {"id": conversation_id}
    )
    assert row is not None
    site = await sites.site_by_id(db, row["site_id"])
    assert site is not None
    await inbound.receive(db, site, row["visitor_id"], "web", text, uuid.uuid4().hex)


async def test_other_tenants_conversations_are_invisible(database: Database) -> None:
    """Listing, search, details and read markers never reach another tenant's conversation."""
    word = f"q{uuid.uuid4().hex[:8]}"
    theirs = await say(database, f"secret {word}", site_id=second_tenant(database))
    items, _ = await inbox.page(database, 1, 1, Filters("all", None, word), None, 50)
    assert items == []
    with pytest.raises(NotFound):
        await inbox.item(database, 1, 1, theirs)
    with pytest.raises(NotFound):
        await inbox.mark_read(database, 1, 1, theirs, None)


async def test_retention_deletes_old_events_but_keeps_each_tenants_newest(
    database: Database,
) -> None:
    """Pruning removes events past the window and keeps every tenant's newest one."""
    other_site = second_tenant(database)
    await say(database, "ours")
    await say(database, "theirs", site_id=other_site)
    old = times.iso(times.now().replace(year=2020))

    async def age(tx: Tx) -> int:
        return await tx.execute("UPDATE events SET created_at = :old", {"old": old})

    await database.write(age)
    await say(database, "ours again")
    newest_ours = await events.newest_id(database, 1)
    await events.prune(database, retention_hours=1)
    rows = await database.fetch_all("SELECT tenant_id, id FROM events ORDER BY tenant_id, id")
    ours = [row["id"] for row in rows if row["tenant_id"] == 1]
    theirs = [row["id"] for row in rows if row["tenant_id"] != 1]
    # Ours: only the events of the last message, which are new. Theirs: only the newest.
    assert ours and min(ours) > 1 and max(ours) == newest_ours
    assert len(theirs) == 1
    assert await events.oldest_id(database, 1) == min(ours)
