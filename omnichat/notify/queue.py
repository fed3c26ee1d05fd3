"""The notifications table: every mail and push we owe, written with what caused it.

A row names its channel (email or push), its kind (reset, invite, test, new_conversation,
assigned, escalated, followup), its recipient (a user for mail, a push subscription for push)
and a small JSON payload of references (a conversation id, a sealed link token). The text is
composed when the row is sent, so it reflects the conversation as it then is and the site's
"hide content" switch; nothing a visitor wrote is stored here.

States: queued -> sending -> sent; a failed try goes to retrying with a later
`next_attempt_at`, and to failed when the handler says it can never work or time runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import orjson

from omnichat import retry, times
from omnichat.storage.db import Database, Row, Tx

Channel = Literal["email", "push"]
# The worker listens here; a commit that queues rows wakes it.
WAKE_TOPIC = ("notifications", 0)
KEEP_DAYS = 7
PRUNE_EVERY_SECONDS = 900
COLUMNS = (
    "id, tenant_id, channel, kind, user_id, subscription_id, payload, status, attempts, created_at"
)
INSERT = """
INSERT INTO notifications (tenant_id, channel, kind, user_id, subscription_id, payload, status,
                           next_attempt_at, created_at, updated_at)
VALUES (:tenant, :channel, :kind, :user, :subscription, :payload, 'queued', :at, :now, :now)
"""


@dataclass(frozen=True)
class Notification:
    id: int
    tenant_id: int
    channel: Channel
    kind: str
    user_id: int | None
    subscription_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: str

    @classmethod
    def from_row(cls, row: Row) -> Notification:
        values = {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row)
        values["payload"] = orjson.loads(values["payload"])
        return cls(**values)


def wake(tx: Tx) -> None:
    tx.publish(WAKE_TOPIC, "")


async def enqueue(
    tx: Tx,
    *,
    tenant_id: int,
    channel: Channel,
    kind: str,
    payload: dict[str, Any],
    user_id: int | None = None,
    subscription_id: int | None = None,
    delay_seconds: float = 0.0,
) -> int:
    """Queue one notification in the caller's transaction; the worker wakes after the commit.
    With `delay_seconds` it is first tried that much later (a batch of replies)."""
    now = times.now()
    row_id = await tx.execute(
        INSERT,
        {
            "tenant": tenant_id,
            "channel": channel,
            "kind": kind,
            "user": user_id,
            "subscription": subscription_id,
            "payload": orjson.dumps(payload).decode(),
            "now": times.iso(now),
            "at": times.iso(now + timedelta(seconds=delay_seconds)),
        },
    )
    wake(tx)
    return row_id


async def due(
    db: Database, now: str, limit: int, paused: tuple[str, ...] = ()
) -> list[Notification]:
    """Rows to try now, oldest first, leaving out channels whose circuit is open."""
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM notifications WHERE status IN ('queued', 'retrying')"
        " AND next_attempt_at <= :now AND channel NOT IN (:p0, :p1)"
        " ORDER BY next_attempt_at, id LIMIT :limit",
        {"now": now, "limit": limit, "p0": _nth(paused, 0), "p1": _nth(paused, 1)},
    )
    return [Notification.from_row(row) for row in rows]


def _nth(values: tuple[str, ...], index: int) -> str:
    return values[index] if index < len(values) else ""


async def next_due_at(db: Database) -> str | None:
    value = await db.fetch_value(
        "SELECT MIN(next_attempt_at) FROM notifications WHERE status IN ('queued', 'retrying')"
    )
    return None if value is None else str(value)


async def waiting(db: Database) -> dict[str, int]:
    """Rows not yet sent nor failed, per channel (a gauge in /metrics)."""
    rows = await db.fetch_all(
        "SELECT channel, COUNT(*) AS n FROM notifications"
        " WHERE status IN ('queued', 'retrying', 'sending') GROUP BY channel"
    )
    counts = {"email": 0, "push": 0}
    counts.update({row["channel"]: row["n"] for row in rows})
    return counts


async def claim(db: Database, row: Notification) -> bool:
    """Mark a waiting row `sending`; False if it moved meanwhile (`retry.claim_row`)."""
    return await retry.claim_row(db, "notifications", row.id, row.attempts)


async def _settle(db: Database, notification_id: int, sets: str, params: dict[str, Any]) -> None:
    await retry.settle_row(db, "notifications", notification_id, sets, params)


async def sent(db: Database, notification_id: int) -> None:
    # The payload is not needed any more; a sealed link in it goes with it.
    await _settle(
        db,
        notification_id,
        "status = 'sent', sent_at = :now, last_error = NULL, payload = '{}'",
        {},
    )


async def retry_later(db: Database, notification_id: int, delay: float, error: str) -> None:
    at = times.iso(times.now() + timedelta(seconds=delay))
    await _settle(
        db,
        notification_id,
        "status = 'retrying', next_attempt_at = :at, last_error = :error",
        {"at": at, "error": error[:300]},
    )


async def failed(db: Database, notification_id: int, error: str) -> None:
    await _settle(
        db,
        notification_id,
        "status = 'failed', last_error = :error, payload = '{}'",
        {"error": error[:300]},
    )


async def discard(db: Database, notification_id: int) -> None:
    """Delete a row that will never be sent (its channel is off): nothing to keep or retry."""

    async def op(tx: Tx) -> None:
        await tx.execute("DELETE FROM notifications WHERE id = :id", {"id": notification_id})

    await db.write(op)


async def recover(db: Database, claimed_before: str) -> int:
    """Rows left mid-send by a sender that stopped are tried again (`retry.recover_rows`)."""
    return await retry.recover_rows(
        db, "notifications", claimed_before, "The server stopped during the send; sent again."
    )


async def prune(db: Database) -> None:
    """Delete finished rows older than a week (a scheduled job)."""
    cutoff = times.iso(times.now() - timedelta(days=KEEP_DAYS))

    async def op(tx: Tx) -> int:
        return await tx.execute(
            "DELETE FROM notifications WHERE status IN ('sent', 'failed') AND created_at < :cutoff",
            {"cutoff": cutoff},
        )

    await db.write(op)
