"""Getting the data directory and database ready before the server (or a command) uses them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from omnichat.errors import StartupError
from omnichat.settings import Settings, generate_secret_key, with_secret_key
from omnichat.storage import migrations
from omnichat.storage.bootstrap import bootstrap
from omnichat.storage.engine import Connection, SyncPostgres

log = logging.getLogger("omnichat.storage")
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
# What Omnichat keeps in the data dir (and SQLite's companions of the database): owner only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm")


def ensure_data_dir(path: Path) -> None:
    """Create the data dir owner-only (0700) and check that we can write in it.

    Every command goes through here before it creates anything in the data dir: the database
    holds password hashes, identity secrets and visitors' details. A dir that already exists
    keeps its mode (it may be `.` or one the operator made for a reason); `open_dir_warning`
    tells the operator when others can enter it.
    """
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise StartupError(f"data dir {path} is not writable: {exc.strerror}") from None


def open_dir_warning(path: Path) -> str | None:
    """A sentence for the operator when others than the owner may enter the data dir."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"data dir {path} has mode {mode:04o}: other users can list it; "
        f"make it owner-only with: chmod 700 {path}"
    )


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (whatever the process umask)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def tighten_database(path: Path) -> None:
    """Make an existing database and its -wal/-shm owner-only.

    Earlier versions' `serve` left them readable by everyone (and SQLite gives -wal and -shm the
    mode of the database), so the mode of these files, which Omnichat made itself, is corrected
    with a warning.
    """
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        try:
            mode = companion.stat().st_mode & 0o777
            if mode & 0o077:
                companion.chmod(PRIVATE_FILE_MODE)
                log.warning("made %s owner-only (it had mode %04o)", companion, mode)
        except FileNotFoundError:
            continue


def development_secret_key(data_dir: Path) -> str:
    """The development secret key, generated once and kept in the data dir (mode 0600)."""
    path = data_dir / SECRET_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = generate_secret_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A synchronous connection in autocommit mode; refuses a file that is not SQLite.

    A new database is created 0600 before SQLite opens it: SQLite would make it 0644 less the
    umask, and it gives the -wal and -shm files the database's own mode.
    """
    try:
        create_private_file(path)
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA schema_version").fetchone()
        tighten_database(path)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StartupError(f"database {path} cannot be used: {exc}") from None
    except OSError as exc:
        raise StartupError(f"database {path} cannot be used: {exc.strerror}") from None
    return connection


def open_connection(settings: Settings) -> Connection:
    """A synchronous connection to the configured database: SQLite in the data dir, or
    PostgreSQL (`storage.database_url`); autocommit, BEGIN and COMMIT by hand."""
    if settings.storage.database_url:
        return SyncPostgres(str(settings.storage.database_url))
    return open_sqlite(settings.database_path)


def apply_migrations(connection: Connection) -> list[migrations.Migration]:
    if isinstance(connection, SyncPostgres):
        applied: list[migrations.Migration] = connection.run(
            migrations.apply_postgres(connection.url)
        )
        return applied
    assert isinstance(connection, sqlite3.Connection)
    return migrations.apply(connection)


def migration_status(connection: Connection) -> migrations.Status:
    if isinstance(connection, SyncPostgres):
        status: migrations.Status = connection.run(migrations.status_postgres(connection.url))
        return status
    assert isinstance(connection, sqlite3.Connection)
    return migrations.status(connection)


def prepare(settings: Settings, announce: Callable[[str], None] = print) -> Settings:
    """Make the data dir, database and schema ready; returns settings with the secret key set."""
    ensure_data_dir(settings.data_dir)
    if not settings.security.secret_key:
        settings = with_secret_key(settings, development_secret_key(settings.data_dir))
    connection = open_connection(settings)
    try:
        applied = apply_migrations(connection)
        for migration in applied:
            log.info("applied migration %04d_%s", migration.version, migration.name)
        bootstrap(connection, settings, announce)
        if settings.production:
            refuse_open_origins(connection)
    finally:
        connection.close()
    return settings


def refuse_open_origins(connection: Connection) -> None:
    """Production refuses a site that allows origin '*' (a database with no sites table yet has
    none to refuse)."""
    has_sites = connection.execute(
        "SELECT to_regclass('sites') IS NOT NULL"
        if isinstance(connection, SyncPostgres)
        else "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sites'"
    ).fetchone()
    if not has_sites or not has_sites[0]:
        return
    for name, origins in connection.execute("SELECT name, allowed_origins FROM sites"):
        if "*" in json.loads(origins):
            raise StartupError(f"site {name!r} allows origin '*', which production refuses")
