"""Which engine holds the data: SQLite in the data dir (the default) or PostgreSQL
(`storage.database_url`), for the server and for the commands that run before it.

Start-up work (migrations, the first owner, `create-user`, `check`) is synchronous code written
against sqlite3's connection. `SyncPostgres` gives it the same few calls on PostgreSQL, on an
event loop of its own in the calling thread, so that code has one version for both engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import asyncpg

from omnichat.errors import StartupError
from omnichat.protocol.hub import Hub
from omnichat.settings import Settings
from omnichat.signing import Signer
from omnichat.storage.db import Database, Dialect, SQLiteDatabase
from omnichat.storage.postgres import PostgresDatabase, fetch, run_execute


class Cursor(Protocol):
    lastrowid: int | None

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What start-up code uses of a synchronous connection (sqlite3's, or `SyncPostgres`)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def close(self) -> None: ...


def dialect(settings: Settings) -> Dialect:
    return "postgresql" if settings.storage.database_url else "sqlite"


def make_database(settings: Settings, hub: Hub, signer: Signer) -> Database:
    if settings.storage.database_url:
        return PostgresDatabase(str(settings.storage.database_url), hub=hub, signer=signer)
    return SQLiteDatabase(
        settings.database_path,
        synchronous=settings.storage.synchronous,
        busy_timeout_ms=settings.storage.busy_timeout_ms,
        hub=hub,
        signer=signer,
    )


class _Rows:
    def __init__(self, rows: Sequence[Any], lastrowid: int | None = None) -> None:
        self._rows = list(rows)
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class SyncPostgres:
    """One PostgreSQL connection driven synchronously, shaped like sqlite3's for start-up code.

    Its event loop runs in a thread of its own, so a caller whose thread already runs a loop
    (a test, the server's lifespan) may use it too; it blocks that caller meanwhile.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="omnichat-sync-pg")
        self._loop = asyncio.new_event_loop()
        try:
            self.connection = self.run(asyncpg.connect(url))
        except (OSError, asyncpg.PostgresError) as exc:
            self._stop()
            raise StartupError(f"storage.database_url: PostgreSQL cannot be used: {exc}") from None

    def run(self, coroutine: Any) -> Any:
        return self._thread.submit(self._loop.run_until_complete, coroutine).result()

    def _stop(self) -> None:
        self._thread.submit(self._loop.close).result()
        self._thread.shutdown()

    def execute(self, sql: str, parameters: Any = (), /) -> _Rows:
        statement = sql.strip().upper()
        if statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            # sqlite3's BEGIN IMMEDIATE takes the write lock at once; here row locks do that.
            self.run(self.connection.execute(statement.split()[0]))
            return _Rows([])
        if statement.startswith("INSERT"):
            return _Rows([], self.run(run_execute(self.connection, sql, parameters)))
        return _Rows(self.run(fetch(self.connection, sql, parameters)))

    def close(self) -> None:
        self.run(self.connection.close())
        self._stop()
