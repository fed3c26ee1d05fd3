"""The group-committing writer: batching, isolation of a failing op, after-commit order."""

from __future__ import annotations

import asyncio

import pytest

from omnichat.storage.db import Database, Tx


async def test_concurrent_writes_share_commits(database: Database) -> None:
    """Many writes queued together commit in far fewer transactions than writes."""
    before = database.commits

    def insert(n: int):  # type: ignore[no-untyped-def]
        async def op(tx: Tx) -> int:
            return await tx.execute(
                "INSERT INTO audit (action, created_at) VALUES (:a, 'now')", {"a": f"w{n}"}
            )

        return op

    ids = await asyncio.gather(*(database.write(insert(n)) for n in range(200)))
    assert len(set(ids)) == 200
    assert database.commits - before < 50
    assert await database.fetch_value("SELECT COUNT(*) FROM audit WHERE action LIKE 'w%'") == 200


async def test_failing_op_does_not_fail_its_neighbours(database: Database) -> None:
    """An op that raises fails alone; the others in its batch are committed."""
    order: list[str] = []

    def op(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
        async def run(tx: Tx) -> str:
            await tx.execute(
                "INSERT INTO audit (action, created_at) VALUES (:a, 'now')", {"a": name}
            )
            tx.after_commit(lambda: order.append(name))
            if fail:
                raise ValueError("bad op")
            return name

        return run

    results = await asyncio.gather(
        database.write(op("a")),
        database.write(op("bad", fail=True)),
        database.write(op("b")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], ValueError)
    assert order == ["a", "b"]
    rows = await database.fetch_all("SELECT action FROM audit WHERE action IN ('a','b','bad')")
    assert sorted(row[0] for row in rows) == ["a", "b"]


async def test_readers_cannot_write(database: Database) -> None:
    """Reader connections are query-only, so no write can bypass the writer."""
    with pytest.raises(Exception, match="readonly"):
        await database.fetch_all("INSERT INTO audit (action, created_at) VALUES ('x', 'now')")


async def test_op_awaiting_anything_else_is_refused(database: Database) -> None:
    """A write op that awaits something other than its transaction fails instead of hanging."""

    async def op(tx: Tx) -> None:
        await tx.execute("INSERT INTO audit (action, created_at) VALUES ('sleepy', 'now')")
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other"):
        await database.write(op)
    assert await database.fetch_value("SELECT COUNT(*) FROM audit WHERE action = 'sleepy'") == 0


async def test_committed_pages_reach_the_database_file_beside_the_writer(
    database: Database,
) -> None:
    """The writer never checkpoints inside a commit, yet committed pages are copied from the WAL
    into the database file in the background, so the WAL does not grow without end."""
    path = database.path
    before = path.stat().st_size
    note = "x" * 500

    async def op(tx: Tx) -> int:
        return await tx.execute(
            "INSERT INTO audit (action, details, created_at) VALUES ('bulk', :d, 'now')",
            {"d": note},
        )

    for _ in range(40):
        await asyncio.gather(*(database.write(op) for _ in range(50)))
    deadline = asyncio.get_running_loop().time() + 10
    while path.stat().st_size <= before + 500_000:
        assert asyncio.get_running_loop().time() < deadline, "no checkpoint reached the file"
        await asyncio.sleep(0.1)
