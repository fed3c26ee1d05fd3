"""Backups and restore without a server: a consistent copy under load, retention, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from omnichat.accounts import audit
from omnichat.storage import backups, restore
from omnichat.storage.db import Database, Tx

FILLER = "x" * 2000


def rows_in(path: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


async def add_audit_rows(db: Database, action: str, targets: list[str]) -> None:
    async def op(tx: Tx) -> None:
        for target in targets:
            await audit.record(
                tx,
                tenant_id=1,
                actor_id=None,
                action=action,
                target=target,
                details={"filler": FILLER},
            )

    await db.write(op)


async def test_backup_under_write_load_holds_everything_committed_before_it(
    database: Database, tmp_path: Path
) -> None:
    """Rows committed before a backup starts are all in it, while writes go on during the copy."""
    # About 40 MB, so the copy takes many steps and writes land between them.
    for batch in range(20):
        await add_audit_rows(database, "filler", [f"{batch}-{i}" for i in range(1000)])
    committed: list[str] = []
    stop = asyncio.Event()

    async def write_load() -> None:
        n = 0
        while not stop.is_set():
            await add_audit_rows(database, "load", [str(n)])
            committed.append(str(n))
            n += 1

    writer = asyncio.create_task(write_load())
    while len(committed) < 20:
        await asyncio.sleep(0.001)
    before = list(committed)
    made = await asyncio.to_thread(backups.take_backup, database.path, tmp_path / "b", None)
    during = len(committed) - len(before)
    stop.set()
    await writer

    assert during > 0, "no write committed while the backup ran"
    copied = {
        row[0] for row in rows_in(made.path, "SELECT target FROM audit WHERE action = 'load'")
    }
    assert set(before) <= copied
    assert rows_in(made.path, "PRAGMA integrity_check") == [("ok",)]
    assert rows_in(made.path, "PRAGMA journal_mode") == [("delete",)]
    assert sorted(p.name for p in made.path.parent.iterdir()) == [made.name]


async def test_retention_keeps_exactly_keep_newest(database: Database, tmp_path: Path) -> None:
    """With keep=3, five backups leave the newest three; other files in the directory stay."""
    directory = tmp_path / "b"
    directory.mkdir()
    (directory / "notes.txt").write_text("mine")
    made = [backups.take_backup(database.path, directory, keep=3) for _ in range(5)]
    names = sorted(p.name for p in directory.iterdir())
    assert len({m.name for m in made}) == 5, "names clashed within one second"
    assert names == sorted([m.name for m in made[2:]] + ["notes.txt"])
    assert [b.name for b in backups.list_backups(directory)] == [m.name for m in reversed(made[2:])]


def test_backup_of_missing_database_is_one_clear_error(tmp_path: Path) -> None:
    """Backing up a database that does not exist fails clearly and creates nothing."""
    with pytest.raises(backups.BackupError, match="no database at"):
        backups.take_backup(tmp_path / "none.sqlite", tmp_path / "b", keep=2)
    assert not (tmp_path / "none.sqlite").exists()
    assert list((tmp_path / "b").iterdir()) == []


async def test_unusable_backups_dir_is_one_clear_error(database: Database, tmp_path: Path) -> None:
    """A backups dir that is a file fails with a message naming it."""
    blocker = tmp_path / "b"
    blocker.write_text("in the way")
    with pytest.raises(backups.BackupError, match=r"backups dir .* cannot be used"):
        backups.take_backup(database.path, blocker, keep=2)


async def test_stale_temp_files_are_swept(database: Database, tmp_path: Path) -> None:
    """A temp file left by a backup that died is deleted by the next one; a fresh one is not."""
    directory = tmp_path / "b"
    directory.mkdir()
    stale = directory / f"{backups.TEMP_PREFIX}dead.tmp"
    fresh = directory / f"{backups.TEMP_PREFIX}busy.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    old = time.time() - backups.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    backups.take_backup(database.path, directory, keep=2)
    assert not stale.exists() and fresh.exists()


def _garble(path: Path) -> None:
    # Data pages only (they come last after this insert): the schema still reads fine.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        row = ("filler", "x" * 500, "2026-01-01T00:00:00.000Z")
        connection.executemany(
            "INSERT INTO audit (action, details, created_at) VALUES (?, ?, ?)", [row] * 2000
        )
        connection.commit()
    data = bytearray(path.read_bytes())
    for offset in range(len(data) * 3 // 4, len(data), 397):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _newer_schema(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "INSERT INTO schema_migrations VALUES (9999, 'from_the_future', 'x', '2100-01-01')"
        )
        connection.commit()


def _plain_sqlite(path: Path) -> None:
    path.unlink()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
        connection.commit()


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 definitely a zip file" * 500)


def _missing(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_not_sqlite, "is not an SQLite database"),
        (_truncate, "is damaged"),
        (_garble, "is damaged"),
        (_newer_schema, "newer Omnichat"),
        (_plain_sqlite, "not an Omnichat database"),
        (_missing, "cannot read"),
    ],
)
async def test_restore_refuses_bad_files(
    spoil: Callable[[Path], None], reason: str, database: Database, tmp_path: Path
) -> None:
    """A file that is not a sound, known Omnichat database is refused; the data dir is untouched."""
    bad = backups.take_backup(database.path, tmp_path / "b", keep=None).path
    spoil(bad)
    data_dir = tmp_path / "restored"
    data_dir.mkdir()
    current = data_dir / "omnichat.sqlite"
    current.write_bytes(b"the current database")
    with pytest.raises(backups.BackupError, match=reason):
        restore.restore_file(bad, data_dir, current)
    assert sorted(p.name for p in data_dir.iterdir()) == ["omnichat.lock", "omnichat.sqlite"]
    assert current.read_bytes() == b"the current database"


async def test_restore_refuses_while_the_data_dir_is_locked(
    database: Database, tmp_path: Path
) -> None:
    """While a server holds the data dir's lock, restore refuses and changes nothing."""
    made = backups.take_backup(database.path, tmp_path / "b", keep=None)
    data_dir = tmp_path / "served"
    with contextlib.closing(restore.lock_data_dir(data_dir)):
        with pytest.raises(backups.BackupError, match="server is running"):
            restore.restore_file(made.path, data_dir, data_dir / "omnichat.sqlite")
        with pytest.raises(restore.DataDirBusy):
            restore.lock_data_dir(data_dir)
    assert not (data_dir / "omnichat.sqlite").exists()
    restore.restore_file(made.path, data_dir, data_dir / "omnichat.sqlite")
    assert rows_in(data_dir / "omnichat.sqlite", "PRAGMA integrity_check") == [("ok",)]
