"""Follow-ups: the contact details and message a visitor leaves when no agent is free.

Agents work them as an inbox: new ones come first, viewing one marks it seen, archiving puts it
away. Each change is an event, so every agent's list stays current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from omnichat import emails, phones, times
from omnichat.chat import conversations, escalation, events, messages
from omnichat.chat.alerts import Alerts
from omnichat.errors import Invalid, NotFound, RateLimited
from omnichat.notify import events as notify_events
from omnichat.sites import Site
from omnichat.storage.db import Database, Row, Tx, json_values

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
        f" AND status IN ({json_values(db.dialect, 'statuses', 'text')})"
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
            "SELECT status FROM followups WHERE id = :id AND tenant_id = :tenant" + tx.for_update,
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
        await events.append(tx, tenant_id, "followup.updated", {"followup": followup.to_json()})
        return followup

    return await db.write(op)


# A visitor may leave this many follow-ups per window; the form is for contact details, not chat.
FORM_LIMIT = 3
FORM_WINDOW = timedelta(minutes=10)
MAX_NAME, MAX_EMAIL, MAX_MESSAGE, MAX_PHONE_TYPED = 100, 254, 4000, 40


@dataclass(frozen=True)
class Form:
    name: str
    email: str
    phone: str  # E.164, or ""
    message: str


def _optional(body: dict[str, Any], field: str, limit: int) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(field, "must be a string")
    value = value.strip()
    if len(value) > limit:
        raise Invalid(field, f"must be at most {limit} characters")
    return value


def parse_form(body: dict[str, Any], country: str | None = None) -> Form:
    """The follow-up form's fields, cleaned; `Invalid` names the first bad field.

    A phone typed without its country code is read in `country` (the site's)."""
    name = _optional(body, "name", MAX_NAME)
    email = _optional(body, "email", MAX_EMAIL)
    if email:
        email = emails.parse_email(email)
    typed_phone = _optional(body, "phone", MAX_PHONE_TYPED)
    phone = phones.require("phone", typed_phone, country) if typed_phone else ""
    message = _optional(body, "message", MAX_MESSAGE)
    if not message:
        raise Invalid("message", "must not be empty")
    if not email and not phone:
        raise Invalid("email", "give an email address or a phone number so we can reach you")
    return Form(name, email, phone, message)


async def _check_rate(reader: Database | Tx, visitor_id: int, now: datetime) -> None:
    rows = await reader.fetch_all(
        "SELECT created_at FROM followups WHERE visitor_id = :visitor AND created_at > :since"
        " ORDER BY created_at LIMIT :limit",
        {"visitor": visitor_id, "since": times.iso(now - FORM_WINDOW), "limit": FORM_LIMIT},
    )
    if len(rows) >= FORM_LIMIT:
        retry_after = times.parse(rows[0]["created_at"]) + FORM_WINDOW - now
        raise RateLimited(
            "You have already left several follow-up requests; please wait before sending more.",
            retry_after.total_seconds(),
        )


async def create(
    db: Database, alerts: Alerts, site: Site, visitor_id: int, form: Form
) -> tuple[Followup, messages.Message | None]:
    """Store a visitor's follow-up and alert on-call contacts; returns it and the thank-you.

    With a conversation, the site's `followup_text` thanks the visitor in it and the conversation
    closes (the visitor's next message reopens it); without one (the form opened from the menu
    before any chat) the follow-up stands alone, with no conversation and no thank-you message.
    """
    await _check_rate(db, visitor_id, times.now())  # refuse floods without the writer

    async def op(tx: Tx) -> tuple[Followup, messages.Message | None]:
        now = times.now()
        # The visitor's row locked: on PostgreSQL two forms sent at once (two processes) are
        # counted one after the other, as SQLite's single writer does.
        await tx.fetch_one(
            "SELECT id FROM visitors WHERE id = :v" + tx.for_update, {"v": visitor_id}
        )
        await _check_rate(tx, visitor_id, now)  # the check that counts, serialised
        found = await conversations.find(tx, visitor_id, "web")
        conversation_id = None if found is None else found[0]
        followup_id = await tx.execute(
            "INSERT INTO followups (tenant_id, conversation_id, visitor_id, name, email, phone,"
            " message, status, created_at, updated_at) VALUES (:tenant, :conversation, :visitor,"
            " :name, :email, :phone, :message, 'new', :now, :now)",
            {
                "tenant": site.tenant_id,
                "conversation": conversation_id,
                "visitor": visitor_id,
                "name": form.name,
                "email": form.email,
                "phone": form.phone,
                "message": form.message,
                "now": times.iso(now),
            },
        )
        followup = await load(tx, followup_id)
        thanks, conversation = None, None
        if conversation_id is not None:
            text = site.settings.followup_text
            thanks = (await messages.insert(tx, conversation_id, "system", text)).message
            await conversations.set_status(tx, conversation_id, "closed")
            await escalation.stop_clock(tx, conversation_id)
            conversation = await conversations.load(tx, conversation_id)
        await events.append(
            tx, site.tenant_id, "followup.created", {"followup": followup.to_json()}
        )
        await alerts.followup_created(tx, site, followup.to_json(), conversation)
        await notify_events.followup_created(tx, site.tenant_id, followup.id, conversation_id)
        return followup, thanks

    return await db.write(op)
