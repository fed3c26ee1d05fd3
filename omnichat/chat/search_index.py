"""The search index over message texts, kept up in bulk rather than row by row.

Messages are indexed by a job about once a second (and by any search first), so a message's own
transaction never pays for FTS5: with per-row indexing every small commit wrote a new index
segment. `search_progress.indexed_through` says how far the index reaches.
"""

from __future__ import annotations

from omnichat.storage.db import Database, Tx

# Rows indexed per transaction, so a large backlog (after an upgrade) never holds the writer long.
BATCH = 5000
EVERY_SECONDS = 1
PENDING = """
SELECT COALESCE((SELECT MAX(id) FROM messages), 0) > (SELECT indexed_through FROM search_progress)
"""


async def _index_next(tx: Tx) -> int:
    """Index the next batch of messages; returns how many."""
    row = await tx.fetch_one(
        "SELECT indexed_through, (SELECT MAX(id) FROM (SELECT id FROM messages WHERE id >"
        " (SELECT indexed_through FROM search_progress) ORDER BY id LIMIT :batch)) AS upto"
        " FROM search_progress",
        {"batch": BATCH},
    )
    if row is None or row["upto"] is None:
        return 0
    count = await tx.execute(
        "INSERT INTO messages_fts (rowid, text)"
        " SELECT id, text FROM messages WHERE id > :from AND id <= :upto",
        {"from": row["indexed_through"], "upto": row["upto"]},
    )
    await tx.execute("UPDATE search_progress SET indexed_through = :upto", {"upto": row["upto"]})
    return count


async def catch_up(db: Database) -> None:
    """Index every message stored so far (a read when there is nothing to do). PostgreSQL keeps
    its index itself (a generated tsvector column)."""
    if db.dialect == "postgresql":
        return
    while await db.fetch_value(PENDING):
        if not await db.write(_index_next):
            return
