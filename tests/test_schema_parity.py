"""The PostgreSQL migrations build the schema SQLite's do, and their runner behaves like SQLite's.

Compared: tables, columns (name, NOT NULL, whether there is a default), primary keys, unique
constraints and unique indexes (column sets, partial or not), the other named indexes, foreign
keys (column -> table.column, ON DELETE) and the number of CHECK constraints per table.
Left out on purpose, as the dialects differ there by design: SQLite's FTS5 tables and their
shadow tables (messages_fts_*, visitors_fts_*, followups_fts_*), the views visitor_search and
followup_search that feed them, and on PostgreSQL the `search` tsvector columns with their GIN
indexes that replace all of those.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from omnichat.errors import StartupError
from omnichat.storage import migrations
from tests.engines import PostgresServer
from tests.servers import free_port

FTS_TABLE = re.compile(r"^(messages|visitors|followups)_fts(_\w+)?$")
SEARCH_COLUMN = "search"
SEARCH_INDEXES = {"messages_search", "visitors_search", "followups_search"}
BASELINE = 28
EXPRESSION = "(expression)"
ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return postgres.new_database()


def sqlite_schema(path: Path) -> dict[str, Any]:
    connection = sqlite3.connect(path, isolation_level=None)
    migrations.apply(connection)
    schema: dict[str, Any] = {}
    tables = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ).fetchall()
    for table, sql in tables:
        if FTS_TABLE.match(table):
            continue
        info = connection.execute(f"PRAGMA table_info('{table}')").fetchall()
        # A primary key column is NOT NULL in PostgreSQL; in SQLite only INTEGER ones are, by rowid.
        columns = {
            name: (bool(notnull or pk), default is not None)
            for _, name, _, notnull, default, pk in info
        }
        primary = tuple(row[1] for row in sorted(info, key=lambda row: row[5]) if row[5])
        unique, indexes = set(), set()
        for _, index, is_unique, origin, partial in connection.execute(
            f"PRAGMA index_list('{table}')"
        ):
            names = tuple(
                sorted(
                    row[2] or EXPRESSION
                    for row in connection.execute(f"PRAGMA index_info('{index}')")
                )
            )
            if is_unique and origin != "pk":
                unique.add((names, bool(partial)))
            if origin == "c":
                indexes.add(index)
        foreign = {
            (row[3], row[2], row[4], row[6])
            for row in connection.execute(f"PRAGMA foreign_key_list('{table}')")
        }
        schema[table] = {
            "columns": columns,
            "primary": tuple(primary),
            "unique": unique,
            "indexes": indexes,
            "foreign": foreign,
            "checks": len(re.findall(r"\bCHECK\s*\(", sql, re.IGNORECASE)),
        }
    connection.close()
    return schema


async def postgres_schema(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(url)
    try:
        return await _postgres_schema(connection)
    finally:
        await connection.close()


async def _postgres_schema(connection: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for (table,) in await connection.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    ):
        columns = {
            row["column_name"]: (row["is_nullable"] == "NO", row["column_default"] is not None)
            for row in await connection.fetch(
                "SELECT column_name, is_nullable, column_default FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = $1",
                table,
            )
            if row["column_name"] != SEARCH_COLUMN
        }
        schema[table] = {
            "columns": columns,
            "primary": (),
            "unique": set(),
            "indexes": set(),
            "foreign": set(),
            "checks": 0,
        }
    for row in await connection.fetch(
        "SELECT t.relname AS table_name, i.relname AS index_name, x.indisunique, x.indisprimary,"
        " x.indpred IS NOT NULL AS partial,"
        " EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) AS backs,"
        " ARRAY(SELECT COALESCE(a.attname, $1) FROM unnest(x.indkey) WITH ORDINALITY AS k(n, i)"
        "  LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n"
        "  ORDER BY k.i) AS names"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid WHERE t.relnamespace = 'public'::regnamespace",
        EXPRESSION,
    ):
        table = schema[row["table_name"]]
        if row["indisprimary"]:
            table["primary"] = tuple(row["names"])
        elif row["indisunique"]:
            table["unique"].add((tuple(sorted(row["names"])), row["partial"]))
        if not row["backs"] and row["index_name"] not in SEARCH_INDEXES:
            table["indexes"].add(row["index_name"])
    for row in await connection.fetch(
        "SELECT c.conrelid::regclass::text AS table_name, c.contype::text, c.confdeltype::text,"
        " c.confrelid::regclass::text AS parent,"
        " (SELECT attname FROM pg_attribute WHERE attrelid = c.conrelid"
        "  AND attnum = c.conkey[1]) AS child_column,"
        " (SELECT attname FROM pg_attribute WHERE attrelid = c.confrelid"
        "  AND attnum = c.confkey[1]) AS parent_column"
        " FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace"
        " AND c.contype IN ('f', 'c')"
    ):
        table = schema[row["table_name"]]
        if row["contype"] == "c":
            table["checks"] += 1
        else:
            table["foreign"].add(
                (
                    row["child_column"],
                    row["parent"],
                    row["parent_column"],
                    ON_DELETE[row["confdeltype"]],
                )
            )
    return schema


async def test_both_dialects_build_the_same_schema(pg_url: str, tmp_path: Path) -> None:
    """Every table, column, key, index and constraint SQLite has, PostgreSQL has too."""
    applied = await migrations.apply_postgres(pg_url)
    assert [m.version for m in applied] == [28]
    expected = await asyncio.to_thread(sqlite_schema, tmp_path / "db.sqlite")
    actual = await postgres_schema(pg_url)
    assert sorted(actual) == sorted(expected)
    differing = sorted(table for table in expected if actual[table] != expected[table])
    assert {t: actual[t] for t in differing} == {t: expected[t] for t in differing}


def test_every_later_migration_comes_in_a_pair() -> None:
    """After the baseline each SQLite migration has its PostgreSQL twin, same number and name."""
    postgres = migrations.discover(migrations.POSTGRES_DIR)
    sqlite = migrations.discover()
    assert postgres[0].version == BASELINE
    assert [(m.version, m.name) for m in postgres[1:]] == [
        (m.version, m.name) for m in sqlite if m.version > BASELINE
    ]


async def test_applying_twice_applies_nothing(pg_url: str) -> None:
    """A second run, and a run racing the first, find every migration applied once."""
    first, second = await asyncio.gather(
        migrations.apply_postgres(pg_url), migrations.apply_postgres(pg_url)
    )
    assert sorted([m.version for m in first + second]) == [28]
    assert await migrations.apply_postgres(pg_url) == []
    state = await migrations.status_postgres(pg_url)
    assert [(v, n) for v, n, _ in state.applied] == [(28, "baseline")]
    assert state.pending == []


async def test_edited_migration_is_refused(pg_url: str, tmp_path: Path) -> None:
    """Changing an applied file stops start-up, and a pending one is reported as such."""
    directory = tmp_path / "postgresql"
    directory.mkdir()
    (directory / "0028_baseline.sql").write_text("CREATE TABLE a (id BIGINT PRIMARY KEY);")
    await migrations.apply_postgres(pg_url, directory)
    (directory / "0029_more.sql").write_text("ALTER TABLE a ADD COLUMN b TEXT;")
    assert [m.version for m in (await migrations.status_postgres(pg_url, directory)).pending] == [
        29
    ]
    (directory / "0028_baseline.sql").write_text("CREATE TABLE a (id BIGINT PRIMARY KEY, x TEXT);")
    with pytest.raises(StartupError, match="0028_baseline was edited"):
        await migrations.apply_postgres(pg_url, directory)
    with pytest.raises(StartupError, match="0028_baseline was edited"):
        await migrations.status_postgres(pg_url, directory)


async def test_broken_migration_is_rolled_back(pg_url: str, tmp_path: Path) -> None:
    """A migration failing half-way leaves nothing behind and is not recorded."""
    directory = tmp_path / "postgresql"
    directory.mkdir()
    (directory / "0028_baseline.sql").write_text("CREATE TABLE a (id BIGINT PRIMARY KEY);")
    (directory / "0029_broken.sql").write_text("CREATE TABLE b (id BIGINT); SELECT nonsense;")
    with pytest.raises(StartupError, match="0029_broken failed and was rolled back"):
        await migrations.apply_postgres(pg_url, directory)
    connection = await asyncpg.connect(pg_url)
    try:
        assert await connection.fetchval("SELECT to_regclass('b')") is None
        assert await connection.fetchval("SELECT MAX(version) FROM schema_migrations") == 28
    finally:
        await connection.close()


async def insert_event(connection: Any, tenant: int) -> int:
    # The statement SQLite's code uses; the trigger replaces the id it names.
    return int(
        await connection.fetchval(
            "INSERT INTO events (tenant_id, id, type, data, created_at)"
            " SELECT id, last_event_id + 1, 'test', '{}', '2026-01-01T00:00:00.000Z'"
            " FROM tenants WHERE id = $1 RETURNING id",
            tenant,
        )
    )


async def test_event_ids_become_visible_in_commit_order(pg_url: str) -> None:
    """A second writer in the same tenant waits for the first to commit and gets a higher id."""
    await migrations.apply_postgres(pg_url)
    first, second = await asyncpg.connect(pg_url), await asyncpg.connect(pg_url)
    try:
        tenant = await first.fetchval(
            "INSERT INTO tenants (slug, name, created_at)"
            " VALUES ('t', 'T', '2026-01-01T00:00:00.000Z') RETURNING id"
        )
        transaction = first.transaction()
        await transaction.start()
        first_id = await insert_event(first, tenant)

        async def later_writer() -> int:
            async with second.transaction():
                return await insert_event(second, tenant)

        waiting = asyncio.create_task(later_writer())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await transaction.commit()
        second_id = await asyncio.wait_for(waiting, 10)
        assert second_id > first_id
        assert await first.fetchval("SELECT last_event_id FROM tenants") == second_id
    finally:
        await first.close()
        await second.close()


async def test_reset_sequences_moves_ids_past_copied_rows(pg_url: str) -> None:
    """After rows are inserted with explicit ids, new rows get ids above them."""
    await migrations.apply_postgres(pg_url)
    connection = await asyncpg.connect(pg_url)
    try:
        await connection.execute(
            "INSERT INTO tenants (id, slug, name, last_event_id, created_at)"
            " VALUES (7, 'a', 'A', 41, '2026-01-01T00:00:00.000Z')"
        )
        await migrations.reset_sequences(connection)
        tenant = await connection.fetchval(
            "INSERT INTO tenants (slug, name, created_at)"
            " VALUES ('b', 'B', '2026-01-01T00:00:00.000Z') RETURNING id"
        )
        assert tenant == 8
        # Event ids count per tenant: the copied tenant's go on from its last_event_id.
        assert await insert_event(connection, 7) == 42
        assert await insert_event(connection, tenant) == 1
    finally:
        await connection.close()


async def tenant_and_site(connection: asyncpg.Connection, now: str) -> None:
    """Tenant 1 with its site 1, for a test's rows to belong to."""
    await connection.execute(
        "INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 't', 'T', $1)", now
    )
    await connection.execute(
        "INSERT INTO sites (id, tenant_id, name, site_key, created_at, updated_at)"
        " VALUES (1, 1, 's', 'k', $1, $1)",
        now,
    )


async def test_clock_change_resets_the_escalation_steps(pg_url: str) -> None:
    """A new waiting_since restarts the clock: no step done, due at once (as SQLite's trigger)."""
    await migrations.apply_postgres(pg_url)
    connection = await asyncpg.connect(pg_url)
    now = "2026-01-01T00:00:00.000Z"
    try:
        await tenant_and_site(connection, now)
        await connection.execute(
            "INSERT INTO visitors (id, tenant_id, site_id, created_at, last_seen_at)"
            " VALUES (1, 1, 1, $1, $1)",
            now,
        )
        await connection.execute(
            "INSERT INTO conversations (id, tenant_id, site_id, visitor_id, channel, status,"
            " created_at, updated_at, clock_steps) VALUES (1, 1, 1, 1, 'web', 'open', $1, $1, 2)",
            now,
        )
        later = "2026-01-01T00:05:00.000Z"
        await connection.execute("UPDATE conversations SET waiting_since = $1", later)
        row = await connection.fetchrow("SELECT clock_steps, next_step_at FROM conversations")
        assert (row["clock_steps"], row["next_step_at"]) == (0, later)
        await connection.execute("UPDATE conversations SET clock_steps = 1, next_step_at = NULL")
        await connection.execute("UPDATE conversations SET waiting_since = $1", later)
        row = await connection.fetchrow("SELECT clock_steps, next_step_at FROM conversations")
        assert (row["clock_steps"], row["next_step_at"]) == (1, None)
    finally:
        await connection.close()


async def test_search_columns_find_what_fts5_finds(pg_url: str) -> None:
    """A visitor is found by a word of the name, a part of the address or a phone suffix."""
    await migrations.apply_postgres(pg_url)
    connection = await asyncpg.connect(pg_url)
    now = "2026-01-01T00:00:00.000Z"
    try:
        await tenant_and_site(connection, now)
        await connection.execute(
            "INSERT INTO visitors (tenant_id, site_id, name, email, phone, created_at,"
            " last_seen_at) VALUES (1, 1, 'Ann Lee', 'ann@mail.example', '+15551234567', $1, $1)",
            now,
        )
        for query in ("lee", "mail:*", "ann@mail.example", "4567:*", "5551234567"):
            found = await connection.fetchval(
                "SELECT count(*) FROM visitors WHERE search @@ to_tsquery('simple', $1)", query
            )
            assert found == 1, query
        missing = await connection.fetchval(
            "SELECT count(*) FROM visitors WHERE search @@ to_tsquery('simple', '567:*')"
        )
        assert missing == 0
    finally:
        await connection.close()


async def test_unreachable_server_is_a_startup_error() -> None:
    """No PostgreSQL on the URL's port: one clear start-up error, not a traceback."""
    url = f"postgresql://omnichat@127.0.0.1:{free_port()}/omnichat"
    with pytest.raises(StartupError, match="cannot connect to PostgreSQL"):
        await migrations.apply_postgres(url)
