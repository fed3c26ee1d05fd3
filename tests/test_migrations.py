"""The migration runner: order, idempotence, checksum drift, and rollback of a broken one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from omnichat.errors import StartupError
from omnichat.storage import bootstrap, migrations


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(sql)


def tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


def test_shipped_migrations_apply_from_empty_and_are_idempotent(tmp_path: Path) -> None:
    """The real migrations build the core schema once; a second run applies nothing."""
    connection = connect(tmp_path / "db.sqlite")
    applied = migrations.apply(connection)
    assert [m.version for m in applied] == sorted(m.version for m in applied)
    assert {
        "tenants",
        "sites",
        "users",
        "visitors",
        "conversations",
        "messages",
        "followups",
        "events",
        "audit",
    } <= tables(connection)
    assert migrations.apply(connection) == []
    assert migrations.status(connection).pending == []


def test_migrations_apply_in_order_and_record_themselves(tmp_path: Path) -> None:
    """Each migration is recorded with version, name, checksum and time."""
    directory = tmp_path / "migrations"
    write(directory, "0002_second.sql", "ALTER TABLE a ADD COLUMN b TEXT;")
    write(directory, "0001_first.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);")
    connection = connect(tmp_path / "db.sqlite")
    migrations.apply(connection, directory)
    rows = connection.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    assert [(v, n) for v, n, _ in rows] == [(1, "first"), (2, "second")]
    assert all(len(checksum) == 64 for _, _, checksum in rows)


def test_edited_migration_stops_startup(tmp_path: Path) -> None:
    """Changing an applied migration is detected by its checksum."""
    directory = tmp_path / "migrations"
    write(directory, "0001_first.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);")
    connection = connect(tmp_path / "db.sqlite")
    migrations.apply(connection, directory)
    write(directory, "0001_first.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT);")
    with pytest.raises(StartupError, match="0001_first was edited"):
        migrations.apply(connection, directory)


def test_broken_migration_leaves_database_unchanged(tmp_path: Path) -> None:
    """A migration failing half-way is rolled back whole; earlier ones stay applied."""
    directory = tmp_path / "migrations"
    write(directory, "0001_first.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);")
    connection = connect(tmp_path / "db.sqlite")
    migrations.apply(connection, directory)
    connection.execute("INSERT INTO a (id) VALUES (1)")
    write(
        directory,
        "0002_broken.sql",
        "CREATE TABLE b (id INTEGER);\nINSERT INTO a (id) VALUES (2);\nSELECT * FROM nowhere;",
    )
    with pytest.raises(StartupError, match="0002_broken failed and was rolled back"):
        migrations.apply(connection, directory)
    assert "b" not in tables(connection)
    assert connection.execute("SELECT id FROM a").fetchall() == [(1,)]
    assert [m.version for m in migrations.status(connection, directory).pending] == [2]


def test_statements_keep_trigger_bodies_whole() -> None:
    """A trigger with `;` inside its body is one statement."""
    sql = (
        "CREATE TABLE t (x);\n-- a comment; with a semicolon\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  SELECT 1;\n  SELECT 2;\nEND;\n"
    )
    parts = migrations.statements(sql)
    assert len(parts) == 2
    assert parts[1].startswith("-- a comment") or parts[1].startswith("CREATE TRIGGER")
    assert parts[1].rstrip().endswith("END;")


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    """A migration file not named NNNN_name.sql is an error, not silently skipped."""
    directory = tmp_path / "migrations"
    write(directory, "1_first.sql", "SELECT 1;")
    with pytest.raises(StartupError, match="NNNN_name"):
        migrations.discover(directory)


def test_a_migration_leaving_a_dangling_reference_is_rolled_back(tmp_path: Path) -> None:
    """Foreign keys are not enforced during a migration (a table rebuild needs that), but a
    migration that leaves a reference to a missing row is rolled back whole."""
    directory = tmp_path / "migrations"
    write(
        directory,
        "0001_first.sql",
        "CREATE TABLE p (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id));\n"
        "INSERT INTO p (id) VALUES (1);\nINSERT INTO c (id, p_id) VALUES (1, 1);",
    )
    write(directory, "0002_orphan.sql", "DELETE FROM p;")
    connection = connect(tmp_path / "db.sqlite")
    connection.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(StartupError, match=r"0002_orphan failed.*row 1 of c"):
        migrations.apply(connection, directory)
    assert connection.execute("SELECT id FROM p").fetchall() == [(1,)]
    assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_emails_become_unique_per_tenant_keeping_every_reference(tmp_path: Path) -> None:
    """0008 rebuilds users: the same email may then exist in two tenants (never twice in one,
    in any case), and ids, sessions and read markers pointing at users survive intact."""
    shipped = migrations.discover()
    directory = tmp_path / "before"
    for migration in shipped:
        if migration.version < 8:
            write(directory, f"{migration.version:04d}_{migration.name}.sql", migration.sql)
    connection = connect(tmp_path / "db.sqlite")
    connection.execute("PRAGMA foreign_keys=ON")
    migrations.apply(connection, directory)
    bootstrap.create_user(connection, "acme", "ada@example.com", "Ada", "owner", "hash", False)
    with pytest.raises(sqlite3.IntegrityError):  # globally unique before
        bootstrap.create_user(connection, "other", "ADA@example.com", "Ada", "owner", "h", False)
    user_id = connection.execute("SELECT id FROM users").fetchone()[0]
    connection.execute(
        "INSERT INTO sessions (tenant_id, user_id, token_hash, created_at, refreshed_at,"
        " expires_at) VALUES (1, ?, 'digest', 'now', 'now', 'later')",
        (user_id,),
    )
    connection.execute(
        "INSERT INTO audit (tenant_id, actor_id, action, created_at) VALUES (1, ?, 'x', 'now')",
        (user_id,),
    )

    applied = [m.version for m in migrations.apply(connection)]
    assert applied[0] == 8
    assert connection.execute("SELECT id, email FROM users").fetchall() == [
        (user_id, "ada@example.com")
    ]
    assert connection.execute("SELECT user_id FROM sessions").fetchall() == [(user_id,)]
    assert connection.execute("SELECT actor_id FROM audit").fetchall() == [(user_id,)]
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    bootstrap.create_user(connection, "other", "ADA@example.com", "Ada", "owner", "hash", False)
    with pytest.raises(sqlite3.IntegrityError):
        bootstrap.create_user(connection, "other", "ada@EXAMPLE.com", "Ada", "agent", "h", False)
    connection.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):  # references are enforced again afterwards
        connection.execute("DELETE FROM users WHERE id = ?", (user_id,))
