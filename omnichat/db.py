"""The database seam: concurrent reads, and every write through one group-committing writer.

This is the only module that imports `databases`. Its SQLite backend opens a fresh connection
(and thread) for every stand-alone query and forgets per-connection PRAGMAs, so we hold the
connections we need for the life of the process: one writer and a few readers, each set up with
its pragmas. Queries run on the held aiosqlite connection with sqlite3's native `:named`
parameters; compiling each plain SQL string through SQLAlchemy, as `Database.fetch_all` does,
would cost more than the query itself on our hot paths.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from databases.backends.sqlite import SQLiteBackend
from databases.interfaces import ConnectionBackend

log = logging.getLogger("omnichat.db")

Row = sqlite3.Row
Params = Mapping[str, Any] | Sequence[Any] | None
T = TypeVar("T")

# Ops queued while a batch commits join the next one; this caps how long one commit can grow.
MAX_BATCH = 256


class Tx:
    """A handle on the writer's open transaction, given to each write operation."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._after_commit: list[Callable[[], None]] = []

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the new row id for an INSERT, else the changed row count."""
        cursor = await self._connection.execute(sql, params or ())
        if sql.lstrip()[:6].upper() == "INSERT" and cursor.rowcount:
            return cursor.lastrowid or 0
        return cursor.rowcount

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        rows = await self._connection.execute_fetchall(sql, params or ())
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        return list(await self._connection.execute_fetchall(sql, params or ()))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this transaction is durable, in the order operations ran.

        Publishing to the hub happens here, so live frames go out in commit order and only for
        data that is really stored.
        """
        self._after_commit.append(callback)


WriteOp = Callable[[Tx], Awaitable[T]]


class Database:
    """Held SQLite connections: `readers` for concurrent reads and one group-committing writer."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "full",
        busy_timeout_ms: int = 5000,
        readers: int = 3,
    ) -> None:
        self.path = path
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._reader_count = readers
        self._backend = SQLiteBackend(f"sqlite:///{path}")
        self._held: list[ConnectionBackend] = []
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._writer: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[WriteOp[Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    async def _open(self, *, query_only: bool) -> aiosqlite.Connection:
        held = self._backend.connection()
        await held.acquire()
        self._held.append(held)
        connection: aiosqlite.Connection = held.raw_connection
        connection.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={self._synchronous}",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}",
            f"PRAGMA query_only={'ON' if query_only else 'OFF'}",
        ):
            await connection.execute(pragma)
        return connection

    async def connect(self) -> None:
        await self._backend.connect()
        self._writer = await self._open(query_only=False)
        for _ in range(self._reader_count):
            self._readers.put_nowait(await self._open(query_only=True))
        self._task = asyncio.create_task(self._run_writer(), name="omnichat-writer")

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for held in self._held:
            await held.release()
        self._held.clear()
        await self._backend.disconnect()

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        connection = await self._readers.get()
        try:
            return list(await connection.execute_fetchall(sql, params or ()))
        finally:
            self._readers.put_nowait(connection)

    async def fetch_value(self, sql: str, params: Params = None) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

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
            for callback in tx._after_commit:
                try:
                    callback()
                except Exception:
                    log.exception("after-commit callback failed")
            if not future.done():
                future.set_result(result)

    async def _transaction(self, ops: list[WriteOp[Any]]) -> list[tuple[Any, Tx]]:
        assert self._writer is not None, "database is not connected"
        await self._writer.execute("BEGIN IMMEDIATE")
        try:
            outcomes = []
            for op in ops:
                tx = Tx(self._writer)
                outcomes.append((await op(tx), tx))
            await self._writer.execute("COMMIT")
        except BaseException:
            await self._writer.execute("ROLLBACK")
            raise
        self.commits += 1
        return outcomes
