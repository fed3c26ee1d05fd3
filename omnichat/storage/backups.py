"""Online backups of the SQLite database, on a schedule or on demand, and their retention.

On PostgreSQL the same schedule, names (`.pgdump`), retention and downloads hold, and the copy is
pg_dump's (`pg_dump.py`). Several processes sharing the backups dir take each scheduled backup
once: the first to lock `.schedule.lock` takes it, the others find it fresh and skip.

A backup is SQLite's online backup API copying a consistent snapshot through its own connection
(never a file copy of a live database), checked with `PRAGMA integrity_check`, fsynced and only
then renamed to `omnichat-YYYYmmdd-HHMMSS.sqlite` (UTC, when the snapshot was taken): a file with
that name is a good backup, anything else in the directory is not counted. The work is blocking
and runs in a thread; WAL lets the server's writer commit while the copy reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from omnichat.errors import RateLimited
from omnichat.jobs import Jobs
from omnichat.metrics import Metrics
from omnichat.settings import Settings
from omnichat.storage import pg_dump
from omnichat.storage.db import Database

log = logging.getLogger("omnichat.backups")

NAME = re.compile(r"^omnichat-(\d{8}-\d{6})(?:-(\d+))?\.(?:sqlite|pgdump)$")
STAMP = "%Y%m%d-%H%M%S"
TEMP_PREFIX = ".omnichat-backup-"
# A temp file untouched this long belongs to a backup that died (a copy in progress writes to it
# continuously), so the next backup may delete it.
STALE_TEMP_SECONDS = 3600
# 1024 pages (4 MiB) per step, with a short pause between steps, leaves the disk to the writer.
STEP_PAGES = 1024
STEP_SLEEP_SECONDS = 0.002
FLUSH_EVERY_STEPS = 4
STARTUP_DELAY = timedelta(minutes=1)
SCHEDULE_LOCK = ".schedule.lock"
T = TypeVar("T")
# The SQLite file, or PostgreSQL's address (backed up with pg_dump).
Source = Path | str


class BackupError(Exception):
    """A backup or restore failed; the message is one line saying why."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    size: int
    taken_at: datetime  # UTC, from the name: when the snapshot was taken

    @property
    def name(self) -> str:
        return self.path.name


def source(settings: Settings) -> Source:
    return str(settings.storage.database_url) or settings.database_path


def backup_dir(settings: Settings) -> Path:
    return Path(settings.backup.dir) if settings.backup.dir else settings.data_dir / "backups"


def list_backups(directory: Path) -> list[BackupFile]:
    """The good backups in `directory`, newest first; a missing directory has none."""
    found: list[tuple[tuple[str, int], BackupFile]] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:  # missing, not a directory, unreadable: no backups there
        return []
    for entry in entries:
        match = NAME.match(entry.name)
        try:
            if match is None or not entry.is_file():
                continue
            size = entry.stat().st_size
        except FileNotFoundError:  # pruned meanwhile by another process
            continue
        taken_at = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
        order = (match.group(1), int(match.group(2) or 1))
        found.append((order, BackupFile(Path(entry.path), size, taken_at)))
    return [backup for _, backup in sorted(found, key=lambda item: item[0], reverse=True)]


def take_backup(database: Source, directory: Path, keep: int | None) -> BackupFile:
    """Write a checked backup into `directory`, then keep only the newest `keep` (None: all)."""
    taken_at = datetime.now(UTC).replace(microsecond=0)
    _make_dir(directory)
    _sweep_stale_temps(directory)
    with temp_file(directory) as temp:
        copy_database(database, temp)
        final = _free_name(directory, taken_at, suffix(database))
        os.rename(temp, final)
    fsync_dir(directory)
    if keep is not None:
        prune(directory, keep)
    return BackupFile(final, final.stat().st_size, taken_at)


def take_scheduled(
    database: Source, directory: Path, keep: int, interval: timedelta
) -> BackupFile | None:
    """The scheduled backup, unless another process sharing `directory` is taking it or took
    it less than half an interval ago (processes on one PostgreSQL each schedule it)."""
    _make_dir(directory)
    fd = os.open(directory / SCHEDULE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        newest = list_backups(directory)[:1]
        if newest and datetime.now(UTC) - newest[0].taken_at < interval / 2:
            return None
        return take_backup(database, directory, keep)
    finally:
        os.close(fd)


def write_backup(database: Source, target: Path) -> BackupFile:
    """Write a checked backup to the file `target`, which must not exist yet."""
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name")
    taken_at = datetime.now(UTC).replace(microsecond=0)
    with temp_file(target.parent) as temp:
        copy_database(database, temp)
        os.rename(temp, target)
    fsync_dir(target.parent)
    return BackupFile(target, target.stat().st_size, taken_at)


def open_fresh_backup(database: Source, directory: Path) -> BinaryIO:
    """A checked backup made for download, open for reading and already unlinked.

    It never counts among the kept backups, so downloads cannot push scheduled ones out, and
    nothing is left behind however the download ends.
    """
    _make_dir(directory)
    with temp_file(directory) as temp:
        copy_database(database, temp)
        handle = temp.open("rb")
    return handle


def prune(directory: Path, keep: int) -> None:
    """Delete all but the newest `keep` good backups."""
    for backup in list_backups(directory)[keep:]:
        backup.path.unlink(missing_ok=True)


def copy_database(database: Source, target: Path) -> None:
    """Copy a consistent snapshot of `database` into the new file `target` and check it."""
    if isinstance(database, str):
        try:
            pg_dump.dump(database, target)
        except (OSError, pg_dump.ToolMissing) as exc:
            raise BackupError(str(exc)) from None
        fsync(target)
        return
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    # mode=rw: a missing file must be an error, not a new empty database.
    source_uri = f"{database.resolve().as_uri()}?mode=rw"
    flusher = os.open(target, os.O_RDONLY)
    steps = 0

    def flush_now_and_then(status: int, remaining: int, total: int) -> None:
        # Flushing as we go keeps the final fsync small; one big flush at the end stalls the
        # writer's own fsyncs on the same disk for a noticeable moment.
        nonlocal steps
        steps += 1
        if steps % FLUSH_EVERY_STEPS == 0:
            os.fsync(flusher)

    try:
        with (
            contextlib.closing(
                sqlite3.connect(source_uri, uri=True, isolation_level=None)
            ) as source,
            contextlib.closing(sqlite3.connect(target, isolation_level=None)) as copy,
        ):
            source.execute("PRAGMA query_only=ON")
            # One read transaction across all steps pins the snapshot. Without it, each commit by
            # the server between two steps restarts the copy; under steady traffic it never ends.
            source.execute("BEGIN")
            source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            source.backup(
                copy, pages=STEP_PAGES, sleep=STEP_SLEEP_SECONDS, progress=flush_now_and_then
            )
            source.execute("COMMIT")
            # The copy inherits WAL mode; a backup must be one self-contained file.
            copy.execute("PRAGMA journal_mode=DELETE")
            check_integrity(copy, target)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {database} failed: {exc}") from None
    finally:
        os.close(flusher)
    fsync(target)


def check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{path} is damaged: integrity_check says {problems[0]}")


@dataclass(frozen=True)
class Failure:
    at: datetime
    message: str


class Backups:
    """The server's backups: the schedule, the outcome of the last attempt, and metrics."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.database = source(settings)
        self.directory = backup_dir(settings)
        self.interval_hours = settings.backup.interval_hours
        self.keep = settings.backup.keep
        self.metrics = metrics
        self.last_failure: Failure | None = None
        self.failing = False  # the last scheduled attempt failed
        # Each download is a full copy on disk until it is sent: one in the making at a time.
        self._download = asyncio.Lock()

    async def listing(self) -> list[BackupFile]:
        """The good backups on disk, newest first (also those `run.py backup` made)."""
        found = await asyncio.to_thread(list_backups, self.directory)
        if found:
            self.metrics.backup_last_success.set(found[0].taken_at.timestamp())
        return found

    async def schedule(self, jobs: Jobs) -> None:
        """Back up every `interval_hours`, the first time when the newest backup falls due.

        An overdue first backup still waits a little (at most a minute) after start-up, so a
        server in a restart loop does not replace the kept history with copies of one state.
        """
        if self.interval_hours <= 0:
            return
        interval = timedelta(hours=self.interval_hours)
        found = await self.listing()
        first = datetime.now(UTC) + min(interval, STARTUP_DELAY)
        if found:
            first = max(first, found[0].taken_at + interval)
        jobs.every(interval.total_seconds(), self.run_scheduled, "backup", first=first)

    async def run_scheduled(self) -> None:
        with contextlib.suppress(BackupError, OSError):  # counted and logged by _attempt
            await self._attempt(
                "scheduled",
                take_scheduled,
                self.database,
                self.directory,
                self.keep,
                timedelta(hours=self.interval_hours),
            )

    async def open_fresh(self) -> BinaryIO:
        """A fresh checked backup for an owner to download (see `open_fresh_backup`)."""
        if self._download.locked():
            raise RateLimited("a backup for download is already being made", retry_after=5)
        async with self._download:
            return await self._attempt("download", open_fresh_backup, self.database, self.directory)

    async def _attempt(self, kind: str, work: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            result = await asyncio.to_thread(work, *args)
        except Exception as exc:
            self.metrics.backups.labels(kind, "failed").inc()
            self.last_failure = Failure(datetime.now(UTC), str(exc))
            self.failing = self.failing or kind == "scheduled"
            log.error("backup failed", extra={"fields": {"kind": kind, "error": str(exc)}})
            raise
        elapsed = time.perf_counter() - started
        self.metrics.backups.labels(kind, "ok").inc()
        self.metrics.backup_duration.observe(elapsed)
        if isinstance(result, BackupFile):
            self.failing = False
            self.metrics.backup_last_success.set(result.taken_at.timestamp())
            fields = {"kind": kind, "file": result.name, "bytes": result.size}
            log.info("backup written", extra={"fields": {**fields, "seconds": round(elapsed, 3)}})
        return result


async def installation_tenant_id(db: Database) -> int | None:
    """The tenant made at first start. A backup holds every tenant's data, so only its owners
    (who run the installation) may list or download backups."""
    value = await db.fetch_value("SELECT MIN(id) FROM tenants")
    return None if value is None else int(value)


def _make_dir(directory: Path) -> None:
    try:
        # 0700: a backup holds everything, password hashes included.
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"backups dir {directory} cannot be used: {exc.strerror}") from None


def suffix(database: Source) -> str:
    """A backup file's extension: `sqlite`, or `pgdump` for pg_dump's archive."""
    return "pgdump" if isinstance(database, str) else "sqlite"


def _free_name(directory: Path, taken_at: datetime, suffix: str) -> Path:
    # Within one second the suffix grows past every name still there, so the new backup sorts
    # newest even after retention deleted the base name.
    stamp = f"{taken_at:{STAMP}}"
    matches = (NAME.match(path.name) for path in directory.iterdir())
    used = [int(m.group(2) or 1) for m in matches if m is not None and m.group(1) == stamp]
    n = max(used, default=0) + 1
    name = f"omnichat-{stamp}" if n == 1 else f"omnichat-{stamp}-{n}"
    return directory / f"{name}.{suffix}"


@contextlib.contextmanager
def temp_file(directory: Path) -> Iterator[Path]:
    """A new empty file (mode 0600) in `directory`, deleted on exit unless renamed away."""
    path = directory / f"{TEMP_PREFIX}{uuid.uuid4().hex}.tmp"
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write in {directory}: {exc.strerror}") from None
    try:
        yield path
    finally:
        # Never hide the real error behind a failed clean-up; a stale temp is swept later.
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _sweep_stale_temps(directory: Path) -> None:
    cutoff = time.time() - STALE_TEMP_SECONDS
    for path in directory.glob(f"{TEMP_PREFIX}*.tmp"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is.
    fsync(directory)
