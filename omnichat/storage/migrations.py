"""Numbered plain-SQL migrations, each applied in one transaction and recorded with its checksum.

Files are `migrations/NNNN_name.sql`. An applied migration whose file changed afterwards stops
start-up: the fix is a new migration, never an edit. The SQLite runner is synchronous (sqlite3)
because it runs before serving, or in a thread from the lifespan.

PostgreSQL has its own files under `migrations/postgresql/` with the same numbering: it starts
at the baseline 0028 (the schema SQLite has after 0001..0028), and every later migration is a
pair, `migrations/NNNN_x.sql` and `migrations/postgresql/NNNN_x.sql`. Its runner speaks asyncpg
directly: it runs before the `databases` pool exists, and needs one connection of its own to
hold an advisory lock.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from omnichat.errors import StartupError
from omnichat.storage.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
POSTGRES_DIR = MIGRATIONS_DIR / "postgresql"
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class Status:
    applied: list[tuple[int, str, str]]  # (version, name, applied_at)
    pending: list[Migration]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file in version order; a malformed name or a repeated number is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise StartupError(f"migration file {path.name} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise StartupError(f"two migrations share version {version:04d}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def statements(sql: str) -> list[str]:
    """Split a script into complete statements (trigger bodies with `;` inside stay whole)."""
    result, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip().rstrip(";").strip():
                result.append(current.strip())
            current = ""
    if current.strip() and not _only_comments(current):
        raise StartupError("migration ends with an incomplete statement")
    return result


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


def status(connection: sqlite3.Connection, directory: Path = MIGRATIONS_DIR) -> Status:
    """Compare the database with the files; raises on checksum drift or unknown versions."""
    known = {m.version: m for m in discover(directory)}
    connection.execute(CREATE_TABLE)
    applied = connection.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return _checked(applied, known)


def _checked(applied: list[tuple[int, str, str, str]], known: dict[int, Migration]) -> Status:
    """The status of a database holding `applied`; an unknown or edited migration is an error."""
    for version, name, checksum, _ in applied:
        migration = known.get(version)
        if migration is None:
            raise StartupError(
                f"database has migration {version:04d}_{name} that this version does not know; "
                "it was made by a newer Omnichat"
            )
        if migration.checksum != checksum:
            raise StartupError(
                f"migration {version:04d}_{name} was edited after it was applied "
                "(checksum mismatch); restore the original file and add a new migration instead"
            )
    done = {row[0] for row in applied}
    return Status(
        applied=[(v, n, at) for v, n, _, at in applied],
        pending=[m for v, m in known.items() if v not in done],
    )


async def applied_version(db: Database) -> int | None:
    """The newest migration the running database has (readiness compares it with the files)."""
    value = await db.fetch_value("SELECT MAX(version) FROM schema_migrations")
    return None if value is None else int(value)


def apply(connection: sqlite3.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; returns those applied.

    Foreign keys are not enforced while a migration runs, as SQLite's recipe for changing a
    table asks: rebuilding a table drops the old one, which with enforcement on would fail on
    every reference to it (or cascade deletes). Instead every reference in the database is
    checked before the migration commits, and a dangling one rolls it back.
    """
    pending = status(connection, directory).pending
    enforced = connection.execute("PRAGMA foreign_keys").fetchone()[0]
    # Only outside a transaction does this take effect, hence here rather than per migration.
    connection.execute("PRAGMA foreign_keys=OFF")
    try:
        for migration in pending:
            _apply_one(connection, migration)
    finally:
        connection.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
    return pending


def _apply_one(connection: sqlite3.Connection, migration: Migration) -> None:
    try:
        connection.execute("BEGIN IMMEDIATE")
        for statement in statements(migration.sql):
            connection.execute(statement)
        dangling = connection.execute("PRAGMA foreign_key_check").fetchone()
        if dangling is not None:
            table, rowid, parent, _ = dangling
            raise sqlite3.IntegrityError(
                f"row {rowid} of {table} would refer to a missing row of {parent}"
            )
        connection.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
            " VALUES (?, ?, ?, ?)",
            (
                migration.version,
                migration.name,
                migration.checksum,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        connection.execute("COMMIT")
    except sqlite3.Error as exc:
        connection.execute("ROLLBACK")
        raise StartupError(
            f"migration {migration.version:04d}_{migration.name} failed and was rolled back: {exc}"
        ) from None


# Any number, fixed: every process migrating the same database takes this one lock.
POSTGRES_LOCK = 0x6F6D6E6963686174  # "omnichat"

POSTGRES_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT COLLATE "C" NOT NULL
)
"""


async def apply_postgres(url: str, directory: Path = POSTGRES_DIR) -> list[Migration]:
    """Apply every pending PostgreSQL migration, each in its own transaction; returns those applied.

    Each transaction first takes an advisory lock and reads what is applied, so processes
    starting together apply each migration once: the second waits, then finds it done.
    """
    applied: list[Migration] = []
    connection = await _connect(url)
    try:
        async with connection.transaction():
            pending = (await _postgres_status(connection, directory)).pending
        for migration in pending:
            if await _apply_one_postgres(connection, migration):
                applied.append(migration)
    finally:
        await connection.close()
    return applied


async def status_postgres(url: str, directory: Path = POSTGRES_DIR) -> Status:
    """`status` for PostgreSQL: raises on checksum drift or unknown versions."""
    connection = await _connect(url)
    try:
        async with connection.transaction():
            return await _postgres_status(connection, directory)
    finally:
        await connection.close()


async def reset_sequences(connection: Any) -> None:
    """Move every id sequence past the ids present, after rows were inserted with explicit ids.

    copy-data calls it (on an asyncpg connection) after copying: identity columns would
    otherwise hand out ids that exist already. (Event ids count on from each tenant's
    `last_event_id`, which is copied as it is.)
    """
    identities = await connection.fetch(
        "SELECT c.relname AS table_name, a.attname AS column_name"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE a.attidentity != '' AND c.relnamespace = 'public'::regnamespace"
        " AND NOT a.attisdropped ORDER BY c.relname"
    )
    for row in identities:
        table, column = _quoted(row["table_name"]), _quoted(row["column_name"])
        # setval(seq, 1, false) makes the next id 1 in an empty table.
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({column}), 1),"
            f" MAX({column}) IS NOT NULL) FROM {table}",
            row["table_name"],
            row["column_name"],
        )


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _connect(url: str) -> Any:
    try:
        return await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise StartupError(f"cannot connect to PostgreSQL for migrations: {exc}") from None


async def _postgres_status(connection: Any, directory: Path) -> Status:
    # Under the lock even the CREATE TABLE: two concurrent `IF NOT EXISTS` can both try to create.
    await connection.execute("SELECT pg_advisory_xact_lock($1)", POSTGRES_LOCK)
    await connection.execute(POSTGRES_CREATE_TABLE)
    known = {m.version: m for m in discover(directory)}
    rows = await connection.fetch(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    )
    applied = [(r["version"], r["name"], r["checksum"], r["applied_at"]) for r in rows]
    return _checked(applied, known)


async def _apply_one_postgres(connection: Any, migration: Migration) -> bool:
    """Apply one migration unless another process did meanwhile; True when this one applied it."""
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", POSTGRES_LOCK)
            done = await connection.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            )
            if done:
                return False
            # No parameters: the simple query protocol runs the whole script, functions included.
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                " VALUES ($1, $2, $3, $4)",
                migration.version,
                migration.name,
                migration.checksum,
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
    except asyncpg.PostgresError as exc:
        raise StartupError(
            f"migration {migration.version:04d}_{migration.name} failed and was rolled back: {exc}"
        ) from None
    return True
