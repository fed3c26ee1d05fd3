"""Follow-ups: the contact details and message a visitor leaves when no agent is free.

Agents work them as an inbox: new ones come first, viewing one marks it seen, archiving puts it
away. Each change is an event, so every agent's list stays current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from omnichat import events, times
from omnichat.db import Database, Row, Tx
from omnichat.errors import Invalid, NotFound
from omnichat.hub import Hub

Status = Literal["new", "viewed", "archived"]
STATUSES: tuple[Status, ...] = ("new", "viewed", "archived")
# What an agent sees without asking for a status: everything not put away yet.
WORKING: tuple[Status, ...] = ("new", "viewed")


def parse_statuses(value: str | None) -> tuple[Status, ...]:
    """The statuses a listing asks for: one, "all", or by default the working set."""
    if value is None:
        return WORKING
    if value == "all":
        return STATUSES
    for status in STATUSES:
        if value == status:
            return (status,)
    raise Invalid("status", "must be one of new, viewed, archived, all")


COLUMNS = (
    "id, tenant_id, conversation_id, visitor_id, name, email, phone, message, status,"
    " created_at, updated_at"
)


@dataclass(frozen=True)
class Followup:
    id: int
    tenant_id: int
    conversation_id: int | None
    visitor_id: int | None
    name: str
    email: str
    phone: str
    message: str
    status: Status
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> Followup:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            conversation_id=row["conversation_id"],
            visitor_id=row["visitor_id"],
            name=row["name"],
            email=row["email"],
            phone=row["phone"],
            message=row["message"],
            status=row["status"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "message": self.message,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


async def load(tx: Tx, followup_id: int) -> Followup:
    """The follow-up as this transaction sees it (it must exist)."""
    row = await tx.fetch_one(f"SELECT {COLUMNS} FROM followups WHERE id = :id", {"id": followup_id})
    assert row is not None, f"follow-up {followup_id} vanished inside its transaction"
    return Followup.from_row(row)


async def page(
    db: Database, tenant_id: int, statuses: tuple[Status, ...], before: int | None, limit: int
) -> tuple[list[Followup], int | None]:
    """A page of the tenant's follow-ups in `statuses`, newest first, and the next page's cursor."""
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM followups WHERE tenant_id = :tenant"
        " AND status IN (SELECT value FROM json_each(:statuses))"
        " AND (:before IS NULL OR id < :before) ORDER BY id DESC LIMIT :limit",
        {
            "tenant": tenant_id,
            "statuses": orjson.dumps(statuses).decode(),
            "before": before,
            "limit": limit + 1,
        },
    )
    found = [Followup.from_row(row) for row in rows[:limit]]
    return found, found[-1].id if len(rows) > limit else None


async def set_status(
    db: Database,
    hub: Hub,
    tenant_id: int,
    followup_id: int,
    status: Status,
    only_from: tuple[Status, ...],
) -> Followup:
    """Move a follow-up of the tenant to `status` when it is in `only_from`, else leave it.

    Either way it comes back as it now is; another tenant's id is `NotFound`.
    """

    async def op(tx: Tx) -> Followup:
        row = await tx.fetch_one(
            "SELECT status FROM followups WHERE id = :id AND tenant_id = :tenant",
            {"id": followup_id, "tenant": tenant_id},
        )
        if row is None:
            raise NotFound("no such follow-up")
        if row["status"] not in only_from:
            return await load(tx, followup_id)
        await tx.execute(
            "UPDATE followups SET status = :status, updated_at = :now WHERE id = :id",
            {"status": status, "now": times.now_iso(), "id": followup_id},
        )
        followup = await load(tx, followup_id)
        await events.append(
            tx, hub, tenant_id, "followup.updated", {"followup": followup.to_json()}
        )
        return followup

    return await db.write(op)
