"""Getting the data directory and database ready before the server (or a command) uses them."""

from __future__ import annotations

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

log = logging.getLogger("omnichat.storage")
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def ensure_data_dir(path: Path) -> None:
    try:
        # Owner only, like the backups: the database holds identity secrets and visitors' details.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise StartupError(f"data dir {path} is not writable: {exc.strerror}") from None


def development_secret_key(data_dir: Path) -> str:
    """The development secret key, generated once and kept in the data dir (mode 0600)."""
    path = data_dir / SECRET_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = generate_secret_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A synchronous connection in autocommit mode; refuses a file that is not SQLite."""
    try:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA schema_version").fetchone()
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StartupError(f"database {path} cannot be used: {exc}") from None
    return connection


def prepare(settings: Settings, announce: Callable[[str], None] = print) -> Settings:
    """Make the data dir, database and schema ready; returns settings with the secret key set."""
    ensure_data_dir(settings.data_dir)
    if not settings.security.secret_key:
        settings = with_secret_key(settings, development_secret_key(settings.data_dir))
    connection = open_sqlite(settings.database_path)
    try:
        applied = migrations.apply(connection)
        for migration in applied:
            log.info("applied migration %04d_%s", migration.version, migration.name)
        bootstrap(connection, settings, announce)
        if settings.production:
            refuse_open_origins(connection)
    finally:
        connection.close()
    return settings


def refuse_open_origins(connection: sqlite3.Connection) -> None:
    """Production refuses a site that allows origin '*' (a database with no sites table yet has
    none to refuse)."""
    has_sites = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sites'"
    ).fetchone()
    if not has_sites:
        return
    for name, origins in connection.execute("SELECT name, allowed_origins FROM sites"):
        if "*" in json.loads(origins):
            raise StartupError(f"site {name!r} allows origin '*', which production refuses")
