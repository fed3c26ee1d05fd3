"""The delivery queue: one row per event and subscribed webhook, written with the event.

`enqueue` runs inside the transaction that appends the event (`chat.events.append`), so a
delivery exists exactly when its event does: neither a restart nor a receiver outage loses one.
The sender (`webhooks.sender`) claims due rows, POSTs them and records the outcome here.

Row states: queued (never tried) -> sending (a call in flight) -> delivered; a failed try goes to
retrying with a later `next_attempt_at`, and past the retry window to failed. An admin can
resend any row that is not in flight: it is queued again as new, under the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from omnichat import retry, times
from omnichat.errors import Conflict, NotFound
from omnichat.storage.db import Database, Row, Tx
from omnichat.webhooks import endpoints

log = logging.getLogger("omnichat.webhooks")

# The sender listens here; a commit that queues deliveries wakes it.
WAKE_TOPIC = ("webhooks", 0)
LOG_LIMIT = 100
# Finished rows are kept this long for the delivery log, then pruned.
KEEP_DAYS = 7
PRUNE_EVERY_SECONDS = 900
COLUMNS = (
    "id, webhook_id, event, data, status, attempts, next_attempt_at, queued_at,"
    " response_status, last_error, created_at, delivered_at"
)
INSERT = """
INSERT INTO webhook_deliveries (webhook_id, event, data, status, next_attempt_at, queued_at,
                                created_at, updated_at)
SELECT id, :event, :data, 'queued', :now, :now, :now, :now FROM webhooks
WHERE id = :webhook AND active = 1
"""


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    event: str
    data: str  # the event's JSON text, as agents get it
    status: str
    attempts: int
    next_attempt_at: str
    queued_at: str
    response_status: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None

    @classmethod
    def from_row(cls, row: Row) -> Delivery:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (sqlite3.Row)

    def body(self) -> bytes:
        """What is POSTed: the same bytes on every attempt, so one signature check fits all."""
        return (
            f'{{"id":{self.id},"event":"{self.event}","created_at":"{self.created_at}",'
            f'"data":{self.data}}}'
        ).encode()

    def to_json(self) -> dict[str, Any]:
        # A call in flight shows as what it was before: queued, or retrying after a failure.
        status = self.status
        if status == "sending":
            status = "queued" if self.attempts <= 1 else "retrying"
        waiting = status in ("queued", "retrying")
        return {
            "id": self.id,
            "event": self.event,
            "status": status,
            "attempts": self.attempts,
            "response_status": self.response_status,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
            "next_attempt_at": self.next_attempt_at if waiting else None,
        }


def wake(tx: Tx) -> None:
    tx.publish(WAKE_TOPIC, "")


async def enqueue(tx: Tx, tenant_id: int, event: str, data: str) -> None:
    """Queue `event` (its JSON `data`) for each of the tenant's active webhooks that asked for
    it, in the caller's transaction. Never fails the event: an error here is logged."""
    try:
        subscribed = await endpoints.subscriptions(tx, tenant_id)
        if not subscribed:
            return
        targets = [webhook_id for webhook_id, events in subscribed if event in events]
        if not targets:
            return
        now = times.now_iso()
        for webhook_id in targets:
            await tx.execute(
                INSERT, {"event": event, "data": data, "now": now, "webhook": webhook_id}
            )
        wake(tx)
    except Exception:
        # Chat must never wait on, or fail because of, an integration.
        log.exception("queueing webhook deliveries failed", extra={"fields": {"event": event}})


async def due(db: Database, now: str, limit: int, paused: Sequence[int] = ()) -> list[Delivery]:
    """Rows to try now, oldest first, leaving out webhooks whose circuit is open."""
    names = {f"p{i}": webhook_id for i, webhook_id in enumerate(paused)}
    skip = f" AND webhook_id NOT IN ({', '.join(':' + n for n in names)})" if names else ""
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM webhook_deliveries WHERE status IN ('queued', 'retrying')"
        f" AND next_attempt_at <= :now{skip} ORDER BY next_attempt_at, id LIMIT :limit",
        {"now": now, "limit": limit, **names},
    )
    return [Delivery.from_row(row) for row in rows]


async def next_due_at(db: Database) -> str | None:
    value = await db.fetch_value(
        "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status IN ('queued', 'retrying')"
    )
    return None if value is None else str(value)


async def waiting_count(db: Database) -> int:
    value = await db.fetch_value(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE status IN ('queued', 'retrying', 'sending')"
    )
    return int(value or 0)


async def claim(db: Database, row: Delivery) -> bool:
    """Mark a waiting row `sending`; False if it moved meanwhile (`retry.claim_row`)."""
    return await retry.claim_row(db, "webhook_deliveries", row.id, row.attempts)


async def _settle(db: Database, delivery_id: int, sets: str, params: dict[str, Any]) -> None:
    await retry.settle_row(db, "webhook_deliveries", delivery_id, sets, params)


async def delivered(db: Database, delivery_id: int, response_status: int) -> None:
    await _settle(
        db,
        delivery_id,
        "status = 'delivered', response_status = :code, last_error = NULL, delivered_at = :now",
        {"code": response_status},
    )


async def retry_later(
    db: Database, delivery_id: int, delay: float, response_status: int | None, error: str
) -> None:
    at = times.iso(times.now() + timedelta(seconds=delay))
    await _settle(
        db,
        delivery_id,
        "status = 'retrying', next_attempt_at = :at, response_status = :code, last_error = :error",
        {"at": at, "code": response_status, "error": error},
    )


async def failed(db: Database, delivery_id: int, response_status: int | None, error: str) -> None:
    await _settle(
        db,
        delivery_id,
        "status = 'failed', response_status = :code, last_error = :error",
        {"code": response_status, "error": error},
    )


async def recover(db: Database, claimed_before: str) -> int:
    """Rows left mid-call by a sender that stopped are tried again (`retry.recover_rows`); the
    receiver may see one twice and dedupes by the Omnichat-Delivery id."""
    return await retry.recover_rows(
        db, "webhook_deliveries", claimed_before, "The server stopped during the call; sent again."
    )


async def log_of(db: Database, tenant_id: int, webhook_id: int) -> list[Delivery]:
    """A webhook's newest deliveries, newest first (404 for another tenant's webhook)."""
    await endpoints.find(db, tenant_id, webhook_id)
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM webhook_deliveries WHERE webhook_id = :w"
        " ORDER BY id DESC LIMIT :limit",
        {"w": webhook_id, "limit": LOG_LIMIT},
    )
    return [Delivery.from_row(row) for row in rows]


async def resend(db: Database, tenant_id: int, webhook_id: int, delivery_id: int) -> Delivery:
    """Queue a delivery again as new (same id, attempts from zero, a fresh retry window)."""

    async def op(tx: Tx) -> Delivery:
        row = await tx.fetch_one(
            "SELECT d.status FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
            " WHERE d.id = :id AND d.webhook_id = :w AND w.tenant_id = :t" + tx.for_update_of("d"),
            # Locked: a sender on another process may be claiming it this moment.
            {"id": delivery_id, "w": webhook_id, "t": tenant_id},
        )
        if row is None:
            raise NotFound("No such delivery of this webhook.")
        if row["status"] == "sending":
            raise Conflict("This delivery is being sent right now.", code="in_flight")
        now = times.now_iso()
        await tx.execute(
            "UPDATE webhook_deliveries SET status = 'queued', attempts = 0, next_attempt_at = :now,"
            " queued_at = :now, response_status = NULL, last_error = NULL, delivered_at = NULL,"
            " updated_at = :now WHERE id = :id",
            {"now": now, "id": delivery_id},
        )
        wake(tx)
        found = await tx.fetch_one(
            f"SELECT {COLUMNS} FROM webhook_deliveries WHERE id = :id", {"id": delivery_id}
        )
        assert found is not None
        return Delivery.from_row(found)

    return await db.write(op)


async def prune(db: Database) -> None:
    """Delete finished rows past the log's retention (a scheduled job)."""
    cutoff = times.iso(times.now() - timedelta(days=KEEP_DAYS))

    async def op(tx: Tx) -> int:
        return await tx.execute(
            "DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed')"
            " AND created_at < :cutoff",
            {"cutoff": cutoff},
        )

    await db.write(op)
