"""Canned replies: texts an agent inserts by shortcut, their own (personal) or the team's (shared).

A personal reply belongs to one user and nobody else sees it, admins included (another user's
personal reply reads as missing). Shared replies belong to the tenant: every agent reads them,
only admins write them. Shortcuts are unique among the tenant's shared replies and among each
user's personal ones; a personal shortcut may repeat a shared one (the picker shows both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from omnichat import times
from omnichat.accounts.staff import Staff
from omnichat.chat.messages import clean_text
from omnichat.errors import Conflict, Forbidden, Invalid, NotFound
from omnichat.storage.db import Database, Row, Tx

SHORTCUT = re.compile(r"[a-z0-9_-]{1,32}")
MAX_QUERY = 200

SELECT = """
SELECT c.id, c.tenant_id, c.owner_id, c.shortcut, c.text, u.name AS owner_name
FROM canned_replies c LEFT JOIN users u ON u.id = c.owner_id
"""
# What a staff member sees: their own personal replies and the tenant's shared ones.
VISIBLE = "c.tenant_id = :tenant AND (c.owner_id IS NULL OR c.owner_id = :user)"


@dataclass(frozen=True)
class Canned:
    id: int
    tenant_id: int
    owner_id: int | None
    owner_name: str | None
    shortcut: str
    text: str

    @property
    def shared(self) -> bool:
        return self.owner_id is None

    @classmethod
    def from_row(cls, row: Row) -> Canned:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            owner_id=row["owner_id"],
            owner_name=row["owner_name"],
            shortcut=row["shortcut"],
            text=row["text"],
        )

    def to_json(self) -> dict[str, Any]:
        owner = None if self.owner_id is None else {"id": self.owner_id, "name": self.owner_name}
        return {
            "id": self.id,
            "shortcut": self.shortcut,
            "text": self.text,
            "shared": self.shared,
            "owner": owner,
        }


@dataclass(frozen=True)
class Changes:
    """What a create or an edit sets; None leaves a field as it is (edits only)."""

    shortcut: str | None = None
    text: str | None = None
    shared: bool | None = None


def parse_shortcut(value: object) -> str:
    if not isinstance(value, str) or not SHORTCUT.fullmatch(value):
        raise Invalid("shortcut", "must be 1 to 32 of a-z, 0-9, _ and -")
    return value


def parse_shared(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("shared", "must be true or false")
    return value


def parse_changes(body: dict[str, Any], *, creating: bool) -> Changes:
    """The fields of a POST (shortcut and text required) or a PATCH; `Invalid` names a bad one."""
    unknown = sorted(set(body) - {"shortcut", "text", "shared"})
    if unknown:
        raise Invalid(unknown[0], "is not a field of a canned reply")
    if creating:
        for name in ("shortcut", "text"):
            if name not in body:
                raise Invalid(name, "is required")
    return Changes(
        shortcut=parse_shortcut(body["shortcut"]) if "shortcut" in body else None,
        text=clean_text(body["text"]) if "text" in body else None,
        shared=parse_shared(body["shared"]) if "shared" in body else (False if creating else None),
    )


def _rank(canned: Canned, query: str) -> int | None:
    """Where a reply sorts for `query`: shortcut prefix first, then shortcut, then text; None
    when it does not match."""
    if canned.shortcut.startswith(query):
        return 0
    if query in canned.shortcut:
        return 1
    if query in canned.text.casefold():
        return 2
    return None


async def visible(db: Database, staff: Staff, query: str | None) -> list[Canned]:
    """The caller's personal replies and the tenant's shared ones, by shortcut; with `query`,
    those whose shortcut or text holds it (ignoring case), best matches first."""
    rows = await db.fetch_all(
        SELECT + " WHERE " + VISIBLE + " ORDER BY c.shortcut, c.owner_id IS NULL, c.id",
        {"tenant": staff.tenant_id, "user": staff.id},
    )
    found = [Canned.from_row(row) for row in rows]
    wanted = (query or "").strip().casefold()
    if not wanted:
        return found
    if len(wanted) > MAX_QUERY:
        raise Invalid("q", f"must be at most {MAX_QUERY} characters")
    ranked = [(rank, canned) for canned in found if (rank := _rank(canned, wanted)) is not None]
    # sorted() is stable: within a rank the shortcut order above holds.
    return [canned for _, canned in sorted(ranked, key=lambda pair: pair[0])]


async def _load(tx: Tx, staff: Staff, canned_id: int) -> Canned:
    row = await tx.fetch_one(
        SELECT + " WHERE c.id = :id AND " + VISIBLE,
        {
            "id": canned_id,
            "tenant": staff.tenant_id,
            "user": staff.id,
        },
    )
    if row is None:
        raise NotFound("no such canned reply")
    return Canned.from_row(row)


def _check_may_write(staff: Staff, shared: bool) -> None:
    if shared and not staff.has_role("admin"):
        raise Forbidden("only admins manage shared canned replies")


async def _check_free(
    tx: Tx, staff: Staff, shortcut: str, owner_id: int | None, except_id: int | None
) -> None:
    taken = await tx.fetch_one(
        "SELECT 1 FROM canned_replies WHERE tenant_id = :tenant AND shortcut = :shortcut"
        " AND owner_id IS NOT DISTINCT FROM :owner AND id IS DISTINCT FROM :except",
        {"tenant": staff.tenant_id, "shortcut": shortcut, "owner": owner_id, "except": except_id},
    )
    if taken is not None:
        where = "the team's shared replies" if owner_id is None else "your canned replies"
        raise Conflict(f"shortcut /{shortcut} is already used in {where}", code="shortcut_taken")


async def create(db: Database, staff: Staff, changes: Changes) -> Canned:
    """A new personal reply of the caller's, or (admins) a shared one."""
    assert changes.shortcut is not None and changes.text is not None
    shared = bool(changes.shared)
    _check_may_write(staff, shared)
    owner_id = None if shared else staff.id

    async def op(tx: Tx) -> Canned:
        await _check_free(tx, staff, changes.shortcut or "", owner_id, None)
        now = times.now_iso()
        canned_id = await tx.execute(
            "INSERT INTO canned_replies (tenant_id, owner_id, shortcut, text, created_at,"
            " updated_at) VALUES (:tenant, :owner, :shortcut, :text, :now, :now)",
            {
                "tenant": staff.tenant_id,
                "owner": owner_id,
                "shortcut": changes.shortcut,
                "text": changes.text,
                "now": now,
            },
        )
        return await _load(tx, staff, canned_id)

    return await db.write(op)


async def update(db: Database, staff: Staff, canned_id: int, changes: Changes) -> Canned:
    """Edit a reply the caller may write; moving one between personal and shared takes an
    admin (a reply made shared leaves its owner; made personal, it becomes the caller's)."""

    async def op(tx: Tx) -> Canned:
        current = await _load(tx, staff, canned_id)
        _check_may_write(staff, current.shared)
        shared = current.shared if changes.shared is None else changes.shared
        _check_may_write(staff, shared)
        owner_id = None if shared else (current.owner_id or staff.id)
        shortcut = changes.shortcut or current.shortcut
        await _check_free(tx, staff, shortcut, owner_id, canned_id)
        await tx.execute(
            "UPDATE canned_replies SET shortcut = :shortcut, text = :text, owner_id = :owner,"
            " updated_at = :now WHERE id = :id",
            {
                "shortcut": shortcut,
                "text": changes.text or current.text,
                "owner": owner_id,
                "now": times.now_iso(),
                "id": canned_id,
            },
        )
        return await _load(tx, staff, canned_id)

    return await db.write(op)


async def delete(db: Database, staff: Staff, canned_id: int) -> None:
    async def op(tx: Tx) -> None:
        current = await _load(tx, staff, canned_id)
        _check_may_write(staff, current.shared)
        await tx.execute("DELETE FROM canned_replies WHERE id = :id", {"id": canned_id})

    await db.write(op)
