"""`copy-data --to postgresql://...`: move a stopped SQLite installation onto PostgreSQL.

Every table's rows (attachments' bytes included: they live in the database) are copied in one
PostgreSQL transaction, parents before children, with their ids, so links, sessions, tokens and
resume positions stay valid. The target must be empty (it is migrated first); afterwards each
table's count is compared, and the id sequences are moved past the copied ids. The SQLite file
is only read: after a failed copy, nothing has changed on either side.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from graphlib import TopologicalSorter
from pathlib import Path

import asyncpg

from omnichat.errors import StartupError
from omnichat.storage import migrations

BATCH = 5000
# schema_migrations is the target's own; search_progress (SQLite's bulk indexer) comes with its
# row. SQLite's full-text tables are not copied either (`sqlite_tables`): PostgreSQL keeps the
# same in generated columns.
SKIPPED = ("schema_migrations", "search_progress")


def sqlite_tables(source: sqlite3.Connection) -> list[str]:
    """The source's data tables, parents before children."""
    rows = source.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    virtual = [name for name, sql in rows if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    names = [
        name
        for name, _ in rows
        if name not in SKIPPED
        and name not in virtual
        and not any(name.startswith(f"{table}_") for table in virtual)
    ]
    graph = {
        name: {
            row[2]
            for row in source.execute(f"PRAGMA foreign_key_list({name})")
            if row[2] != name and row[2] in names
        }
        for name in names
    }
    return list(TopologicalSorter(graph).static_order())


def _batches(
    source: sqlite3.Connection, table: str, columns: list[str]
) -> Iterator[list[tuple[object, ...]]]:
    quoted = ", ".join(f'"{column}"' for column in columns)
    # By primary key (ids first, so rows pointing into their own table follow their parent);
    # WITHOUT ROWID tables have no rowid to fall back on.
    keys = sorted((row[5], row[1]) for row in source.execute(f'PRAGMA table_info("{table}")'))
    primary = [f'"{name}"' for rank, name in keys if rank > 0]
    order = ", ".join(primary) if primary else "rowid"
    cursor = source.execute(f'SELECT {quoted} FROM "{table}" ORDER BY {order}')
    while batch := cursor.fetchmany(BATCH):
        yield [tuple(row) for row in batch]


async def _target_columns(target: asyncpg.Connection, table: str) -> list[str]:
    rows = await target.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
        table,
    )
    return [row["column_name"] for row in rows]


async def copy(source_path: Path, target_url: str, announce: Callable[[str], None]) -> None:
    """Copy the SQLite database at `source_path` into the empty PostgreSQL at `target_url`."""
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        pending = migrations.status(source).pending
        if pending:
            raise StartupError(
                f"{len(pending)} migration(s) pending on the SQLite database: run"
                " `python run.py migrate` (or start and stop the server) first"
            )
        await migrations.apply_postgres(target_url)
        tables = sqlite_tables(source)
        target = await asyncpg.connect(target_url)
        try:
            for table in tables:
                if await target.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                    raise StartupError(
                        f"the target database is not empty ({table} has rows): copy into a new,"
                        " empty database"
                    )
            copied: dict[str, int] = {}
            async with target.transaction():
                # The copied event ids stand: the trigger draws new ones only for new events.
                await target.execute("ALTER TABLE events DISABLE TRIGGER events_take_id")
                for table in tables:
                    wanted = set(await _target_columns(target, table))
                    if not wanted:
                        raise StartupError(f"table {table} is missing on PostgreSQL")
                    columns = [
                        row[1]
                        for row in source.execute(f'PRAGMA table_info("{table}")')
                        if row[1] in wanted
                    ]
                    count = 0
                    for batch in _batches(source, table, columns):
                        await target.copy_records_to_table(table, records=batch, columns=columns)
                        count += len(batch)
                    copied[table] = count
                await target.execute("ALTER TABLE events ENABLE TRIGGER events_take_id")
                await migrations.reset_sequences(target)
            for table in tables:
                there = await target.fetchval(f'SELECT COUNT(*) FROM "{table}"')
                here = source.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                if there != here or copied[table] != here:
                    raise StartupError(
                        f"verification failed: {table} has {here} rows, copied {there}"
                    )
        finally:
            await target.close()
    finally:
        source.close()
    total = sum(copied.values())
    announce(f"copied {total} rows in {len(tables)} tables; every table's count verified")
