"""The database seam: concurrent reads, and every write through one group-committing writer.

This is the only module that imports `databases`. Its SQLite backend opens a fresh connection
(and thread) for every stand-alone query and forgets per-connection PRAGMAs, so we hold the
reader connections we need for the life of the process, each set up with its pragmas, and run
queries on them with sqlite3's native `:named` parameters (compiling each plain SQL string
through SQLAlchemy, as `Database.fetch_all` does, would cost more than the query itself).

Writes run on a dedicated writer thread with its own connection, as datasette does: a whole
batch of operations, `BEGIN IMMEDIATE` to `COMMIT`, is one hop to that thread. Doing each
statement as its own hop (as aiosqlite does) cost ~90 us of GIL hand-over per statement and
capped the writer near 2,000 messages/s on this machine.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
import asyncpg
from databases.backends.sqlite import SQLiteBackend
from databases.interfaces import ConnectionBackend

from omnichat.protocol.hub import Hub, Subscriber, Topic
from omnichat.signing import Signer

log = logging.getLogger("omnichat.db")

Row = sqlite3.Row
Params = Mapping[str, Any] | Sequence[Any] | None
T = TypeVar("T")

# What a write that breaks a UNIQUE constraint raises, on either engine.
IntegrityError = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)

# Ops queued while a batch commits join the next one; this caps how long one commit can grow.
MAX_BATCH = 256
CHECKPOINT_EVERY_SECONDS = 1.0


Dialect = Literal["sqlite", "postgresql"]
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgresql")


def json_values(dialect: Dialect, param: str, kind: Literal["integer", "text"] = "integer") -> str:
    """A query of the values of the JSON array bound as `:param`, one per row, named `value`: a
    list of ids goes to the database as one parameter whatever its length."""
    if dialect == "sqlite":
        return f"SELECT value FROM json_each(:{param})"
    cast = "BIGINT" if kind == "integer" else "TEXT"
    return (
        f"SELECT CAST(j.value AS {cast}) AS value"
        f" FROM json_array_elements_text(CAST(:{param} AS json)) AS j(value)"
    )


# A PostgreSQL advisory lock held by the transaction (released at its end); the lock's name is
# hashed into the 64-bit key it takes.
LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"


class Tx:
    """A handle on an open write transaction, given to each write operation.

    Operations only await these methods, so the same operation runs on either engine: on SQLite
    the methods never suspend (the writer thread drives the operation in one go, `_drive`); on
    PostgreSQL they are real round trips on the transaction's pooled connection. SQL that
    differs by engine is chosen by `dialect` in the module that owns the table.
    """

    dialect: Dialect

    def __init__(
        self,
        connection: Any,
        hub: Hub,
        cache: dict[Any, Any] | None = None,
        signer: Signer | None = None,
    ) -> None:
        # The engine's connection the transaction is open on (typed in each subclass).
        self._connection = connection
        self._hub = hub
        # Signs the file links a message's JSON carries (`Database.signer`).
        self.signer = signer or Signer()
        # The database's in-memory memo (`Database.cache`), for what a write must know often
        # and that changes rarely (a tenant's webhook subscriptions).
        self.cache: dict[Any, Any] = {} if cache is None else cache
        self._before_commit: list[Callable[[], Awaitable[None]]] = []
        self._after_commit: list[Callable[[], None]] = []

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the new row id for an INSERT, else the changed row count."""
        raise NotImplementedError

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        raise NotImplementedError

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        raise NotImplementedError

    @property
    def for_update(self) -> str:
        """What a SELECT that reads a row to change it must end with: on PostgreSQL, transactions
        run side by side and the row must be locked until commit; SQLite's writer is alone."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""

    def for_update_of(self, alias: str) -> str:
        """`for_update` for a SELECT that joins tables: locks only the rows of `alias`."""
        return f" FOR UPDATE OF {alias}" if self.dialect == "postgresql" else ""

    async def lock(self, name: str) -> None:
        """Hold the lock `name` until this transaction ends, waiting for it if another holds it:
        on PostgreSQL, work that must not run side by side (choosing who gets a conversation)
        queues here; SQLite's writer is alone, so there is nothing to wait for."""
        if self.dialect == "postgresql":
            await self.fetch_one(LOCK, {"name": name})

    def publish(
        self, topic: Topic, frame: str, key: int | None = None, exclude: Subscriber | None = None
    ) -> None:
        """Publish `frame` on the hub once this transaction is durable.

        Live frames therefore go out in commit order and only for data that is really stored;
        this is the one place domain code reaches the hub, whichever hub (in-process or Redis).
        """
        self._after_commit.append(partial(self._hub.publish, topic, frame, key, exclude))

    def listening(self, topic: Topic) -> bool:
        """Whether a socket listens on `topic` at this moment (the hub's view, not the data's)."""
        return self._hub.listening(topic)

    def close(self, topic: Topic, code: int, reason: str) -> None:
        """Close the sockets listening on `topic` once this transaction is durable."""
        self._after_commit.append(partial(self._hub.close, topic, code, reason))

    def before_commit(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` in this transaction once the operation is done, in the order queued: for a
        write that takes a lock others wait for (a tenant's event counter), taken as late as
        possible so it is held only until the commit."""
        self._before_commit.append(step)

    async def finish(self) -> None:
        """The steps queued with `before_commit` (the database calls this before COMMIT)."""
        for step in self._before_commit:
            await step()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the event loop once this transaction is durable, in the order
        operations ran (for work that is not a frame: starting a delivery task)."""
        self._after_commit.append(callback)

    def committed(self) -> None:
        """Run the after-commit callbacks (the database calls this once the commit is durable)."""
        for callback in self._after_commit:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")


class SQLiteTx(Tx):
    dialect: Dialect = "sqlite"
    _connection: sqlite3.Connection

    async def execute(self, sql: str, params: Params = None) -> int:
        cursor = self._connection.execute(sql, params or ())
        if sql.lstrip()[:6].upper() == "INSERT" and cursor.rowcount:
            return cursor.lastrowid or 0
        return cursor.rowcount

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        row: Row | None = self._connection.execute(sql, params or ()).fetchone()
        return row

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        return self._connection.execute(sql, params or ()).fetchall()


def _drive(op: Awaitable[T]) -> T:
    """Run a write operation's coroutine to completion on the writer thread."""
    coroutine = op.__await__()
    try:
        next(coroutine)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a write operation awaited something other than its transaction")


WriteOp = Callable[[Tx], Awaitable[T]]


class Database:
    """Where Omnichat's data lives: reads, and writes as operations run in a transaction.

    `SQLiteDatabase` (the default, one process) and `postgres.PostgresDatabase` (scale-out)
    implement it; domain code sees only this.
    """

    dialect: Dialect
    # Signs the expiring file links in the messages read from here (`omnichat.signing`).
    signer: Signer
    # Where committed transactions publish; a database without one (a CLI command, a domain
    # test) publishes to a hub nobody listens to.
    hub: Hub
    # Derived from committed rows and dropped by the writes that change them; each database
    # (each app in a test process) has its own.
    cache: dict[Any, Any]
    commits: int

    async def connect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        raise NotImplementedError

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_value(self, sql: str, params: Params = None) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    async def write(self, op: WriteOp[T]) -> T:
        """Run `op` in a transaction and return its result once committed."""
        raise NotImplementedError


class SQLiteDatabase(Database):
    """Held SQLite connections: `readers` for concurrent reads and one group-committing writer."""

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "full",
        busy_timeout_ms: int = 5000,
        readers: int = 3,
        hub: Hub | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.path = path
        # Signs the expiring file links in the messages read from here (`omnichat.signing`);
        # the app passes one with the server's secret key.
        self.signer = signer or Signer()
        # Where committed transactions publish; a database without one (a CLI command, a
        # domain test) publishes to a hub nobody listens to.
        self.hub = hub or Hub()
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._reader_count = readers
        self._backend = SQLiteBackend(f"sqlite:///{path}")
        self._held: list[ConnectionBackend] = []
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="omnichat-writer")
        self._writer: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[tuple[WriteOp[Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="omnichat-checkpoint")
        self.commits = 0
        # Derived from committed rows and dropped by the writes that change them; each
        # database (each app in a test process) has its own. Ops read it on the writer thread.
        self.cache: dict[Any, Any] = {}

    def _pragmas(self, query_only: bool) -> list[str]:
        return [
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={self._synchronous}",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}",
            f"PRAGMA query_only={'ON' if query_only else 'OFF'}",
        ]

    async def _open_reader(self) -> aiosqlite.Connection:
        held = self._backend.connection()
        await held.acquire()
        self._held.append(held)
        connection: aiosqlite.Connection = held.raw_connection
        connection.row_factory = sqlite3.Row
        for pragma in self._pragmas(query_only=True):
            await connection.execute(pragma)
        return connection

    def _open_writer(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        for pragma in self._pragmas(query_only=False):
            connection.execute(pragma)
        # Checkpoints run beside the writer (`_checkpoint`), never inside one of its commits:
        # an automatic one copies ~1,000 pages and fsyncs the database file while every write
        # waits, which made the 99th percentile of acks ~30x the median.
        connection.execute("PRAGMA wal_autocheckpoint=0")
        self._writer = connection

    async def connect(self) -> None:
        await self._backend.connect()
        await asyncio.get_running_loop().run_in_executor(self._thread, self._open_writer)
        for _ in range(self._reader_count):
            self._readers.put_nowait(await self._open_reader())
        self._task = asyncio.create_task(self._run_writer(), name="omnichat-writer")
        self._checkpoints = asyncio.create_task(self._run_checkpoints(), name="omnichat-checkpoint")

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
            self._checkpoints = None
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._writer.close)
            self._writer = None
        self._thread.shutdown(wait=False)
        self._checkpoint_thread.shutdown(wait=True)
        for held in self._held:
            await held.release()
        self._held.clear()
        await self._backend.disconnect()

    async def _run_checkpoints(self) -> None:
        """Copy committed pages from the WAL into the database file about once a second.

        A PASSIVE checkpoint on its own connection and thread never blocks the writer or
        readers; once the whole WAL is copied, the writer starts it over from the beginning.
        """
        loop = asyncio.get_running_loop()
        done_at = self.commits
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_SECONDS)
            if self.commits == done_at:
                continue
            done_at = self.commits
            try:
                await loop.run_in_executor(self._checkpoint_thread, self._checkpoint)
            except sqlite3.Error:
                log.exception("WAL checkpoint failed; the next one will try again")

    def _checkpoint(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        connection = await self._readers.get()
        try:
            return list(await connection.execute_fetchall(sql, params or ()))
        finally:
            self._readers.put_nowait(connection)

    async def write(self, op: WriteOp[T]) -> T:
        """Run `op` in the writer's next transaction and return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return await future

    async def _run_writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: list[tuple[WriteOp[Any], asyncio.Future[Any]]]) -> None:
        pending = [(op, future) for op, future in batch if not future.cancelled()]
        if not pending:
            return
        try:
            outcomes = await self._transaction([op for op, _ in pending])
        except Exception as exc:
            if len(pending) > 1:
                # One bad operation must not fail its neighbours: retry each on its own.
                for item in pending:
                    await self._commit_batch([item])
            elif not pending[0][1].done():
                pending[0][1].set_exception(exc)
            return
        for (_, future), (result, tx) in zip(pending, outcomes, strict=True):
            tx.committed()
            if not future.done():
                future.set_result(result)

    async def _transaction(self, ops: list[WriteOp[Any]]) -> list[tuple[Any, Tx]]:
        loop = asyncio.get_running_loop()
        outcomes = await loop.run_in_executor(self._thread, self._run_transaction, ops)
        self.commits += 1
        return outcomes

    def _run_transaction(self, ops: list[WriteOp[Any]]) -> list[tuple[Any, Tx]]:
        """One transaction on the writer thread: every op, then COMMIT, or ROLLBACK on error."""
        writer = self._writer
        assert writer is not None, "database is not connected"
        writer.execute("BEGIN IMMEDIATE")
        try:
            outcomes: list[tuple[Any, Tx]] = []
            for op in ops:
                tx = SQLiteTx(writer, self.hub, self.cache, self.signer)
                outcomes.append((_drive(op(tx)), tx))
                _drive(tx.finish())
            writer.execute("COMMIT")
        except BaseException:
            writer.execute("ROLLBACK")
            raise
        return outcomes
