"""Restoring a backup, and the data dir lock that keeps a restore from running under a server.

`python run.py restore PATH` copies the file into the data dir, checks it (an SQLite file, intact,
an Omnichat database no newer than this code), renames the current database aside and puts the
copy in its place. A server holds the lock for its whole life, so a restore cannot pull the
database out from under one, and a server cannot start in the middle of a restore.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from omnichat.errors import StartupError
from omnichat.storage import backups, datadir, migrations
from omnichat.storage.backups import BackupError, check_integrity

SQLITE_HEADER = b"SQLite format 3\x00"
LOCK_FILE = "omnichat.lock"


class DataDirBusy(StartupError):
    """Another process (a running server, or a restore) holds the data dir's lock."""


def lock_data_dir(data_dir: Path) -> BinaryIO:
    """Take the data dir's exclusive lock; it is held until the returned file is closed.

    The server holds it for its whole life and `restore` while it works. flock is released by the
    kernel when its holder dies, even by kill -9, so a stale lock file blocks nothing. Probing
    the database instead (`BEGIN EXCLUSIVE`) cannot tell: a server idle between writes holds no
    SQLite lock at all. flock is not reliable on network file systems; keep data_dir local.
    """
    datadir.ensure_data_dir(data_dir)
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, datadir.PRIVATE_FILE_MODE)
        handle = os.fdopen(fd, "r+b")
    except OSError as exc:
        raise StartupError(f"data dir {data_dir} is not writable: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirBusy(
            f"data dir {data_dir} is in use by a running Omnichat server (or a restore)"
        ) from None
    return handle


def restore_file(source: Path, data_dir: Path, database: Path) -> Path | None:
    """Replace `database` with the backup `source`; returns where the previous one was put.

    Refuses while a server holds the data dir, and refuses a file that is not a sound Omnichat
    database this version can run. The previous database (with its -wal and -shm, so it opens
    as it was) is renamed aside, never deleted.
    """
    try:
        lock = lock_data_dir(data_dir)
    except DataDirBusy:
        raise BackupError(
            f"the server is running on {data_dir} (it holds {LOCK_FILE}); stop it, then restore"
        ) from None
    try:
        with backups.temp_file(data_dir) as temp:
            try:
                shutil.copyfile(source, temp)
            except OSError as exc:
                raise BackupError(f"cannot read {source}: {exc.strerror}") from None
            verify(temp, source)
            backups.fsync(temp)
            aside = _move_aside(database)
            os.rename(temp, database)
        backups.fsync_dir(data_dir)
        return aside
    finally:
        lock.close()


def verify(path: Path, shown_as: Path) -> None:
    """Check that `path` is an intact Omnichat database this version knows how to run."""
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{shown_as} is not an SQLite database")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        check_integrity(connection, shown_as)
        has_migrations = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not has_migrations:
            raise BackupError(f"{shown_as} is not an Omnichat database (no schema_migrations)")
        migrations.status(connection)
        connection.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"{shown_as} is damaged: {exc}") from None
    except StartupError as exc:
        raise BackupError(f"{shown_as} cannot be restored: {exc}") from None
    finally:
        connection.close()


def _move_aside(database: Path) -> Path | None:
    if not database.exists():
        return None
    aside = database.with_name(
        f"{database.name}.before-restore-{datetime.now(UTC):{backups.STAMP}}"
    )
    for suffix in ("", "-wal", "-shm"):
        current = database.with_name(database.name + suffix)
        if current.exists():
            os.rename(current, aside.with_name(aside.name + suffix))
    return aside
