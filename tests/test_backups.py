"""Backups without a server: a consistent copy under write load, retention, clean failures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

from omnichat import audit, backups
from omnichat.db import Database, Tx

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
