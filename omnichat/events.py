"""The tenant's append-only event log, so an agent who reconnects resumes by event id.

Event ids are a per-tenant sequence taken from `tenants.last_event_id` inside the writer's
transaction, so they are gapless and in commit order. The live frame is published only after
the commit, with the event id as its ordering key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from omnichat import times
from omnichat.db import Database, Tx
from omnichat.hub import Hub

NEXT_ID = """
UPDATE tenants SET last_event_id = last_event_id + 1 WHERE id = :tenant RETURNING last_event_id
"""
INSERT = """
INSERT INTO events (tenant_id, id, type, data, created_at)
VALUES (:tenant, :id, :type, :data, :created_at)
"""


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: str  # JSON text, as stored

    def frame(self) -> str:
        return f'{{"type":"event","id":{self.id},"event":"{self.type}","data":{self.data}}}'


async def append(tx: Tx, hub: Hub, tenant_id: int, event_type: str, data: dict[str, Any]) -> int:
    """Store an event and publish it to the tenant's agents once committed; returns its id."""
    row = await tx.fetch_one(NEXT_ID, {"tenant": tenant_id})
    assert row is not None, f"tenant {tenant_id} does not exist"
    event = Event(row[0], event_type, orjson.dumps(data).decode())
    await tx.execute(
        INSERT,
        {
            "tenant": tenant_id,
            "id": event.id,
            "type": event.type,
            "data": event.data,
            "created_at": times.now_iso(),
        },
    )
    tx.after_commit(lambda: hub.publish(("tenant", tenant_id), event.frame(), event.id))
    return event.id


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
