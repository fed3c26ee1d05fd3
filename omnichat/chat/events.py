"""The tenant's append-only event log, so an agent who reconnects resumes by event id.

Event ids are a per-tenant sequence taken from `tenants.last_event_id` inside the writer's
transaction, so they are gapless and in commit order. The live frame is published only after
the commit, with the event id as its ordering key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from omnichat import times
from omnichat.storage.db import Database, Tx
from omnichat.webhooks import deliveries

log = logging.getLogger("omnichat.events")
# How often the retention job looks for events past the window.
PRUNE_EVERY_SECONDS = 900
# Deleting in slices keeps each writer transaction short, so messages are not held up behind it.
PRUNE_BATCH = 5000
PRUNE = """
DELETE FROM events WHERE (tenant_id, id) IN (
    SELECT e.tenant_id, e.id FROM events e JOIN tenants t ON t.id = e.tenant_id
    WHERE e.created_at < :cutoff AND e.id < t.last_event_id
    LIMIT :batch
)
"""
# The id is the tenant's counter plus one; a trigger (migration 0002) advances the counter.
INSERT = """
INSERT INTO events (tenant_id, id, type, data, created_at)
SELECT id, last_event_id + 1, :type, :data, :created_at FROM tenants WHERE id = :tenant
RETURNING id
"""


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: str  # JSON text, as stored

    def frame(self) -> str:
        return f'{{"type":"event","id":{self.id},"event":"{self.type}","data":{self.data}}}'


async def append(
    tx: Tx,
    tenant_id: int,
    event_type: str,
    data: dict[str, Any],
    *,
    webhook_event: str | None = None,
) -> None:
    """Store an event, publish it to the tenant's agents once committed, and queue it for the
    tenant's webhooks that asked for it. `webhook_event` is the name webhooks know it by when
    that differs (a private note is `message.private`).

    The event row is written last in the transaction: its id comes from the tenant's counter
    row, whose lock (on PostgreSQL) every other writer of the tenant waits for until this
    transaction commits, so it is taken as late as possible.
    """
    data_text = orjson.dumps(data).decode()

    async def store() -> None:
        row = await tx.fetch_one(
            INSERT,
            {
                "tenant": tenant_id,
                "type": event_type,
                "data": data_text,
                "created_at": times.now_iso(),
            },
        )
        assert row is not None, f"tenant {tenant_id} does not exist"
        event = Event(row[0], event_type, data_text)
        tx.publish(("tenant", tenant_id), event.frame(), event.id)

    tx.before_commit(store)
    await deliveries.enqueue(tx, tenant_id, webhook_event or event_type, data_text)


async def newest_id(db: Database, tenant_id: int) -> int:
    value = await db.fetch_value(
        "SELECT last_event_id FROM tenants WHERE id = :t", {"t": tenant_id}
    )
    return int(value or 0)


async def oldest_id(db: Database, tenant_id: int) -> int | None:
    value = await db.fetch_value(
        "SELECT MIN(id) FROM events WHERE tenant_id = :t", {"t": tenant_id}
    )
    return None if value is None else int(value)


async def after(db: Database, tenant_id: int, after_id: int, limit: int = 1000) -> list[Event]:
    """Stored events with ids above `after_id`, oldest first."""
    rows = await db.fetch_all(
        "SELECT id, type, data FROM events WHERE tenant_id = :t AND id > :after"
        " ORDER BY id LIMIT :limit",
        {"t": tenant_id, "after": after_id, "limit": limit},
    )
    return [Event(row["id"], row["type"], row["data"]) for row in rows]


async def prune(db: Database, retention_hours: int) -> None:
    """Delete events older than the retention window (a scheduled job).

    Each tenant keeps its newest event whatever its age, so the oldest retained id stays
    defined and an agent resuming from before it is told to resync rather than sent a gap.
    """
    cutoff = times.iso(times.now() - timedelta(hours=retention_hours))

    async def op(tx: Tx) -> int:
        return await tx.execute(PRUNE, {"cutoff": cutoff, "batch": PRUNE_BATCH})

    deleted = 0
    while (count := await db.write(op)) > 0:
        deleted += count
        if count < PRUNE_BATCH:
            break
    if deleted:
        log.info("events pruned", extra={"fields": {"deleted": deleted, "cutoff": cutoff}})
