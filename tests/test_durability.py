"""Durability: kill -9 under load loses no acknowledged message and corrupts nothing."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from tests.servers import ServerProcess
from tests.timing import UNIT
from tests.visitors import chat_until_killed, new_session

VISITORS = 20


async def test_kill_9_under_load_keeps_every_acked_message_once(start_server) -> None:  # type: ignore[no-untyped-def]
    """After kill -9 mid-traffic and a restart, each acked message is stored exactly once,
    seqs have no gaps, and the database passes integrity_check."""
    process: ServerProcess = start_server(
        OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR="0",
        OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_IP="0",
        OMNICHAT_LIMITS_SOCKETS_PER_IP="0",
        OMNICHAT_LIMITS_SESSIONS_PER_MINUTE_PER_IP="0",
    )
    tokens = [new_session(process)["token"] for _ in range(VISITORS)]
    acked: list[str] = []
    tasks = [
        asyncio.create_task(chat_until_killed(process, token, acked, f"v{i}"))
        for i, token in enumerate(tokens)
    ]
    deadline = asyncio.get_running_loop().time() + 20 * UNIT
    while len(acked) < 400 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    process.kill()
    await asyncio.wait_for(asyncio.gather(*tasks), 10 * UNIT)
    assert len(acked) >= 400

    process.start()
    with contextlib.closing(sqlite3.connect(process.database_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = [
            row[0]
            for row in db.execute("SELECT client_id FROM messages WHERE client_id IS NOT NULL")
        ]
        assert len(stored) == len(set(stored))
        assert set(acked) <= set(stored)
        for conversation_id, count, top in db.execute(
            "SELECT conversation_id, COUNT(*), MAX(seq) FROM messages GROUP BY conversation_id"
        ):
            assert count == top, f"conversation {conversation_id} has a gap in seq"
    # The restarted server serves the history.
    history = new_session(process, tokens[0])["messages"]
    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
