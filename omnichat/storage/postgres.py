"""PostgreSQL, for several processes as one installation (`storage.database_url`).

The same seam as SQLite (`db.Database`): reads on pooled connections, and each write operation
in a real transaction on a connection of its own, so processes and operations write side by
side and PostgreSQL's row locks order them. `databases` makes the asyncpg pool (as it opens
SQLite's connections); queries go to asyncpg directly with the plain SQL the code owns, its
`:name` parameters numbered once per statement text (compiling through SQLAlchemy for every
query, as `databases.Database` does, would cost more than many of our queries).

Ordering: a tenant's event ids are counted on its tenant row (the schema's trigger) and a
conversation's message seqs on its `last_seq`, both updated inside the transaction, whose row lock
holds until commit: they become visible in commit order, and resuming "after id N" never skips
a later commit.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import asyncpg
from databases.backends.postgres import PostgresBackend

from omnichat.protocol.hub import Hub
from omnichat.signing import Signer
from omnichat.storage.db import Database, Dialect, Params, Row, Tx, WriteOp

T = TypeVar("T")

POOL_SIZE = 8
# A write that lost a deadlock (two transactions locking rows in opposite orders) or a
# serialization conflict is run again from the start; its operation has no other side effects
# until commit.
RETRIES = 5
RETRY_ON = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)

# String literals and `::` casts pass through; `:name` and `?` become `$n`. `:name IS [NOT]
# NULL` (our optional filters) becomes a boolean parameter computed here: PostgreSQL cannot
# tell a parameter's type from an IS NULL test, and the answer is known before the query runs.
_PARAM = re.compile(
    r"'(?:[^']|'')*'|::|:([A-Za-z_]\w*)\s+IS\s+(NOT\s+)?NULL\b|:([A-Za-z_]\w*)|(\?)",
    re.IGNORECASE,
)
NULL_TEST = "\0null?"


def _noted(exc: asyncpg.PostgresError, query: str) -> None:
    # The statement (never its values) beside PostgreSQL's message, for the log's traceback.
    exc.add_note(f"statement: {' '.join(query.split())[:500]}")


@functools.lru_cache(maxsize=4096)
def numbered(sql: str) -> tuple[str, tuple[str, ...] | int]:
    """`sql` with asyncpg's `$n` parameters, and the names they stand for in order (or how
    many positional `?` there are)."""
    names: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        tested, negated, name, question = match.groups()
        if question:
            positional += 1
            return f"${positional}"
        if tested is not None:
            name = f"{NULL_TEST}{'!' if negated else ''}{tested}"
        elif name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    converted = _PARAM.sub(number, sql)
    return converted, (tuple(names) if names else positional)


def bind(sql: str, params: Params) -> tuple[str, list[Any]]:
    converted, wanted = numbered(sql)
    if isinstance(wanted, int):
        return converted, list(cast(Sequence[Any], params or ()))
    values = cast(Mapping[str, Any], params or {})
    return converted, [_value(values, name) for name in wanted]


def _value(values: Mapping[str, Any], name: str) -> Any:
    if not name.startswith(NULL_TEST):
        return values[name]
    tested = name[len(NULL_TEST) :]
    if tested.startswith("!"):
        return values[tested[1:]] is not None
    return values[tested] is None


def _is_insert(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "INSERT"


async def fetch(connection: asyncpg.Connection, sql: str, params: Params) -> list[Row]:
    query, args = bind(sql, params)
    try:
        return cast(list[Row], await connection.fetch(query, *args))
    except asyncpg.PostgresError as exc:
        _noted(exc, query)
        raise


async def run_execute(connection: asyncpg.Connection, sql: str, params: Params) -> int:
    """SQLite's answer from PostgreSQL: an INSERT's new row id (0 when nothing was inserted),
    else the number of rows changed."""
    if _is_insert(sql) and "RETURNING" not in sql.upper():
        rows = await fetch(connection, sql.rstrip().rstrip(";") + " RETURNING *", params)
        if not rows:
            return 0
        last = rows[-1]
        return int(last["id"]) if "id" in last else len(rows)
    query, args = bind(sql, params)
    try:
        status: str = await connection.execute(query, *args)
    except asyncpg.PostgresError as exc:
        _noted(exc, query)
        raise
    count = status.rsplit(" ", 1)[-1]
    return int(count) if count.isdigit() else 0


def _number(text: str) -> int | float:
    value = float(text)
    return int(text) if value.is_integer() and "." not in text else value


async def _setup(connection: asyncpg.Connection) -> None:
    """Each pooled connection returns NUMERIC (what SUM and AVG of integers give) as a plain int
    or float, as SQLite does, rather than Decimal."""
    await connection.set_type_codec(
        "numeric", encoder=str, decoder=_number, schema="pg_catalog", format="text"
    )


class PostgresTx(Tx):
    dialect: Dialect = "postgresql"
    _connection: asyncpg.Connection

    async def execute(self, sql: str, params: Params = None) -> int:
        return await run_execute(self._connection, sql, params)

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        rows = await fetch(self._connection, sql, params)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        return await fetch(self._connection, sql, params)


class PostgresDatabase(Database):
    dialect: Dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        hub: Hub | None = None,
        signer: Signer | None = None,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.url = url
        self.signer = signer or Signer()
        self.hub = hub or Hub()
        self.cache = {}
        self.commits = 0
        self._backend = PostgresBackend(url, min_size=1, max_size=pool_size, init=_setup)

    async def connect(self) -> None:
        await self._backend.connect()

    async def close(self) -> None:
        await self._backend.disconnect()

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        held = self._backend.connection()
        await held.acquire()
        try:
            return await fetch(held.raw_connection, sql, params)
        finally:
            await held.release()

    async def write(self, op: WriteOp[T]) -> T:
        held = self._backend.connection()
        await held.acquire()
        try:
            connection: asyncpg.Connection = held.raw_connection
            for attempt in range(RETRIES):
                tx = PostgresTx(connection, self.hub, self.cache, self.signer)
                try:
                    async with connection.transaction():
                        result = await op(tx)
                        await tx.finish()
                except RETRY_ON:
                    if attempt == RETRIES - 1:
                        raise
                    await asyncio.sleep(0.005 * (attempt + 1))
                    continue
                break
        finally:
            await held.release()
        self.commits += 1
        tx.committed()
        return result
