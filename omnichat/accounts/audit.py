"""The audit log: who did what to whom, for security-relevant and administrative actions.

Entries are written inside the same transaction as the change they describe, so the log never
claims a change that was rolled back nor misses one that was stored. Details never hold
passwords, tokens or message bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from omnichat import times
from omnichat.storage.db import Database, Row, Tx


@dataclass(frozen=True)
class Entry:
    id: int
    created_at: str
    action: str
    actor_id: int | None
    actor_name: str | None
    target: str | None
    details: dict[str, Any]
    ip: str | None
    # The API token the actor used, when it was a program rather than the person.
    token_id: int | None = None
    token_name: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Entry:
        return cls(
            id=row["id"],
            created_at=row["created_at"],
            action=row["action"],
            actor_id=row["actor_id"],
            actor_name=row["actor_name"],
            target=row["target"],
            details=orjson.loads(row["details"]),
            ip=row["ip"],
            token_id=row["token_id"],
            token_name=row["token_name"],
        )

    def json(self) -> dict[str, Any]:
        actor: dict[str, Any] | None = None
        if self.actor_id is not None:
            actor = {"id": self.actor_id, "name": self.actor_name}
            if self.token_id is not None:
                actor["token"] = {"id": self.token_id, "name": self.token_name}
        return {
            "id": self.id,
            "created_at": self.created_at,
            "action": self.action,
            "actor": actor,
            "target": self.target,
            "details": self.details,
            "ip": self.ip,
        }


async def record(
    tx: Tx,
    *,
    tenant_id: int | None,
    actor_id: int | None,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
    token_id: int | None = None,
) -> int:
    """Add an entry in the caller's write transaction; `target` is e.g. "user:12", "site:3".

    `token_id` is the API token the actor acted through (`Staff.token_id`), if any.
    """
    return await tx.execute(
        "INSERT INTO audit (tenant_id, actor_id, action, target, details, ip, token_id,"
        " created_at) VALUES (:tenant_id, :actor_id, :action, :target, :details, :ip, :token_id,"
        " :now)",
        {
            "token_id": token_id,
            "tenant_id": tenant_id,
            "actor_id": actor_id,
            "action": action,
            "target": target,
            "details": orjson.dumps(details or {}).decode(),
            "ip": ip,
            "now": times.now_iso(),
        },
    )


async def record_alone(
    db: Database,
    *,
    tenant_id: int,
    actor_id: int,
    action: str,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
    token_id: int | None = None,
) -> int:
    """Add an entry in a write of its own, for an action that changes nothing else (a download)."""

    async def op(tx: Tx) -> int:
        return await record(
            tx,
            tenant_id=tenant_id,
            actor_id=actor_id,
            action=action,
            details=details,
            ip=ip,
            token_id=token_id,
        )

    return await db.write(op)


async def page(
    db: Database, tenant_id: int, *, before: int | None, limit: int
) -> tuple[list[Entry], int | None]:
    """A tenant's entries, newest first, older than `before`; with the cursor of the next page."""
    rows = await db.fetch_all(
        "SELECT a.id, a.created_at, a.action, a.actor_id, u.name AS actor_name, a.target,"
        " a.details, a.ip, a.token_id, t.name AS token_name FROM audit a"
        " LEFT JOIN users u ON u.id = a.actor_id LEFT JOIN api_tokens t ON t.id = a.token_id"
        " WHERE a.tenant_id = :tenant_id AND (:before IS NULL OR a.id < :before)"
        " ORDER BY a.id DESC LIMIT :limit",
        {"tenant_id": tenant_id, "before": before, "limit": limit + 1},
    )
    entries = [Entry.from_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    return entries, entries[-1].id if more else None
