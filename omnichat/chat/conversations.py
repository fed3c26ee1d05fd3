"""Conversations: the record, how it reads as JSON, and the queries that find one.

Every lookup by id takes the caller's tenant (staff) or visitor (widget), so an id from
elsewhere is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from orjson import Fragment

from omnichat import times
from omnichat.chat import events
from omnichat.errors import NotFound
from omnichat.notify import events as notify_events
from omnichat.storage.db import Database, Row, Tx

Status = Literal["open", "escalated", "closed"]
# What a new message does to the escalation clock (`waiting_since`): a visitor message starts it
# if it is not running, a public staff reply stops it, anything else leaves it alone.
Clock = Literal["start", "stop", "keep"]
CLOCKS: dict[Clock, str] = {
    "start": "waiting_since = COALESCE(waiting_since, :now)",
    "stop": "waiting_since = NULL",
    "keep": "waiting_since = waiting_since",
}
# What a new message adds to the conversation's report facts (`reports/`): a visitor message
# counts and may be the first; a public staff reply counts and may be the first response
# (only after a visitor message); system messages and private notes add nothing.
Fact = Literal["visitor", "reply", "none"]
SINCE_FIRST_VISITOR_MS = (
    "CAST(round((julianday(:now) - julianday(first_visitor_message_at)) * 86400000) AS INTEGER)"
)
FACTS: dict[Fact, str] = {
    "visitor": ", visitor_messages = visitor_messages + 1,"
    " first_visitor_message_at = COALESCE(first_visitor_message_at, :now)",
    "reply": ", agent_messages = agent_messages + 1,"
    " first_responder_id = CASE WHEN first_response_at IS NULL"
    " AND first_visitor_message_at IS NOT NULL THEN :author ELSE first_responder_id END,"
    " first_response_at = CASE WHEN first_response_at IS NULL"
    " AND first_visitor_message_at IS NOT NULL THEN :now ELSE first_response_at END,"
    " first_response_ms = CASE WHEN first_response_at IS NULL"
    " AND first_visitor_message_at IS NOT NULL THEN "
    + SINCE_FIRST_VISITOR_MS
    + " ELSE first_response_ms END",
    "none": "",
}
Channel = Literal["web", "sms", "whatsapp"]
# What the widget's page told us about its visitor (`visitors.context`), each null when unknown.
CONTEXT_KEYS = ("url", "title", "referrer", "language", "timezone", "browser", "os")

SELECT = """
SELECT c.id, c.tenant_id, c.site_id, c.visitor_id, c.channel, c.status, c.assignee_id,
       c.last_seq, c.created_at, c.updated_at, c.waiting_since,
       c.rating_score, c.rating_comment, c.rated_at,
       v.name AS visitor_name, v.email AS visitor_email, v.phone AS visitor_phone,
       v.verified AS visitor_verified, v.context AS visitor_context, u.name AS assignee_name,
       (SELECT json_group_array(l.name) FROM conversation_labels cl
        JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id = c.id) AS labels
FROM conversations c
JOIN visitors v ON v.id = c.visitor_id
LEFT JOIN users u ON u.id = c.assignee_id
"""

# Every lookup by id from staff names their tenant: another tenant's id reads as missing.
IN_TENANT = SELECT + " WHERE c.id = :id AND c.tenant_id = :tenant"

# The same columns as SELECT, for an UPDATE ... RETURNING that reads the row back in one step.
RETURNING_CONVERSATION = """
RETURNING id, tenant_id, site_id, visitor_id, channel, status, assignee_id, last_seq,
    created_at, updated_at, waiting_since, rating_score, rating_comment, rated_at,
    (SELECT name FROM visitors WHERE visitors.id = conversations.visitor_id) AS visitor_name,
    (SELECT email FROM visitors WHERE visitors.id = conversations.visitor_id) AS visitor_email,
    (SELECT phone FROM visitors WHERE visitors.id = conversations.visitor_id) AS visitor_phone,
    (SELECT verified FROM visitors WHERE visitors.id = conversations.visitor_id)
        AS visitor_verified,
    (SELECT context FROM visitors WHERE visitors.id = conversations.visitor_id) AS visitor_context,
    (SELECT name FROM users WHERE users.id = conversations.assignee_id) AS assignee_name,
    (SELECT json_group_array(l.name) FROM conversation_labels cl
     JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id = conversations.id) AS labels
"""


@dataclass(frozen=True)
class Conversation:
    id: int
    tenant_id: int
    site_id: int
    visitor_id: int
    channel: Channel
    status: Status
    assignee_id: int | None
    assignee_name: str | None
    last_seq: int
    visitor_name: str | None
    visitor_email: str | None
    visitor_phone: str | None
    visitor_verified: bool
    created_at: str
    updated_at: str
    # {"url", ..., "os"} as stored JSON, or None for a visitor whose page never said.
    visitor_context: str | None = None
    rating_score: int | None = None
    rating_comment: str | None = None
    rated_at: str | None = None
    # Label names, sorted ignoring case; staff-only (never in what the visitor is sent).
    labels: tuple[str, ...] = ()
    # When the visitor's oldest message still without a public agent reply came (the
    # escalation clock); None when nobody waits. System messages neither start nor stop it.
    waiting_since: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Conversation:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            site_id=row["site_id"],
            visitor_id=row["visitor_id"],
            channel=row["channel"],
            status=row["status"],
            assignee_id=row["assignee_id"],
            assignee_name=row["assignee_name"],
            last_seq=row["last_seq"],
            visitor_name=row["visitor_name"],
            visitor_email=row["visitor_email"],
            visitor_phone=row["visitor_phone"],
            visitor_verified=bool(row["visitor_verified"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            visitor_context=row["visitor_context"],
            rating_score=row["rating_score"],
            rating_comment=row["rating_comment"],
            rated_at=row["rated_at"],
            labels=_label_names(row["labels"]),
            waiting_since=row["waiting_since"],
        )

    def context_json(self) -> dict[str, str | None]:
        stored = orjson.loads(self.visitor_context) if self.visitor_context else {}
        return {key: stored.get(key) for key in CONTEXT_KEYS}

    def rating_json(self) -> dict[str, Any] | None:
        if self.rating_score is None:
            return None
        return {
            "score": self.rating_score,
            "comment": self.rating_comment,
            "created_at": self.rated_at,
        }

    def to_json(self) -> dict[str, Any]:
        assignee = (
            None
            if self.assignee_id is None
            else {"id": self.assignee_id, "name": self.assignee_name}
        )
        return {
            "id": self.id,
            "status": self.status,
            "channel": self.channel,
            "visitor": {
                "id": self.visitor_id,
                "name": self.visitor_name,
                "email": self.visitor_email,
                "phone": self.visitor_phone,
                "verified": self.visitor_verified,
                "context": self.context_json(),
            },
            "assignee": assignee,
            "last_seq": self.last_seq,
            "rating": self.rating_json(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "labels": list(self.labels),
            "waiting_since": self.waiting_since,
        }

    def visitor_json(self) -> dict[str, Any]:
        """The conversation as its visitor may see it: without staff-only fields (labels)."""
        data = self.to_json()
        del data["labels"]
        return data

    def encoded(self) -> bytes:
        return orjson.dumps(self.to_json())


def _label_names(text: str | None) -> tuple[str, ...]:
    names: list[str] = orjson.loads(text) if text else []
    return tuple(sorted(names, key=str.casefold))


async def load(tx: Tx, conversation_id: int) -> Conversation:
    """The conversation as this transaction sees it (it must exist)."""
    row = await tx.fetch_one(SELECT + " WHERE c.id = :id", {"id": conversation_id})
    assert row is not None, f"conversation {conversation_id} vanished inside its transaction"
    return Conversation.from_row(row)


async def owned(tx: Tx, tenant_id: int, conversation_id: int) -> Conversation:
    """The conversation if it belongs to `tenant_id`, as `tx` sees it; else `NotFound`."""
    row = await tx.fetch_one(
        IN_TENANT,
        {"id": conversation_id, "tenant": tenant_id},
    )
    if row is None:
        raise NotFound("no such conversation")
    return Conversation.from_row(row)


async def find(tx: Tx, visitor_id: int, channel: Channel) -> tuple[int, Status] | None:
    """The id and status of a contact's conversation on `channel`, if they have one."""
    row = await tx.fetch_one(
        "SELECT id, status FROM conversations WHERE visitor_id = :v AND channel = :channel",
        {"v": visitor_id, "channel": channel},
    )
    return None if row is None else (row["id"], row["status"])


async def ids_of_visitor(tx: Tx, visitor_id: int) -> list[int]:
    rows = await tx.fetch_all(
        "SELECT id FROM conversations WHERE visitor_id = :v ORDER BY id", {"v": visitor_id}
    )
    return [row["id"] for row in rows]


async def next_seq(
    tx: Tx,
    conversation_id: int,
    clock: Clock,
    client_id: str | None,
    now: str,
    fact: Fact = "none",
    author_id: int | None = None,
) -> Conversation | None:
    """Take the conversation's next message seq, move its escalation clock and its report
    facts, reading the conversation back in the same statement; None when `client_id` is
    already used in it (or the conversation does not exist)."""
    row = await tx.fetch_one(
        f"UPDATE conversations SET last_seq = last_seq + 1, updated_at = :now, {CLOCKS[clock]}"
        + FACTS[fact]
        + " WHERE id = :id AND NOT EXISTS (SELECT 1 FROM messages"
        " WHERE conversation_id = :id AND client_id = :client)" + RETURNING_CONVERSATION,
        {"now": now, "id": conversation_id, "client": client_id, "author": author_id},
    )
    return None if row is None else Conversation.from_row(row)


async def set_assignee(tx: Tx, conversation_id: int, user_id: int | None) -> Conversation:
    await tx.execute(
        "UPDATE conversations SET assignee_id = :user, updated_at = :now WHERE id = :id",
        {"user": user_id, "now": times.now_iso(), "id": conversation_id},
    )
    return await load(tx, conversation_id)


async def for_visitor(
    db: Database, visitor_id: int, channel: Channel = "web"
) -> Conversation | None:
    row = await db.fetch_one(
        SELECT + " WHERE c.visitor_id = :visitor AND c.channel = :channel",
        {"visitor": visitor_id, "channel": channel},
    )
    return None if row is None else Conversation.from_row(row)


async def for_tenant(db: Database, tenant_id: int, conversation_id: int) -> Conversation | None:
    """The conversation if it belongs to `tenant_id`; another tenant's id reads as missing."""
    row = await db.fetch_one(
        IN_TENANT,
        {"id": conversation_id, "tenant": tenant_id},
    )
    return None if row is None else Conversation.from_row(row)


def conversation_frame(encoded: bytes) -> str:
    return (b'{"type":"conversation","conversation":' + encoded + b"}").decode()


async def announce(tx: Tx, conversation: Conversation, event_type: str) -> None:
    """Tell agents (an event) and, after the commit, the visitor's sockets about a change."""
    encoded = conversation.encoded()
    await events.append(tx, conversation.tenant_id, event_type, {"conversation": Fragment(encoded)})
    visible = orjson.dumps(conversation.visitor_json())
    tx.publish(("visitor", conversation.visitor_id), conversation_frame(visible))


async def create(
    tx: Tx, tenant_id: int, site_id: int, visitor_id: int, channel: Channel
) -> Conversation:
    now = times.now_iso()
    conversation_id = await tx.execute(
        "INSERT INTO conversations (tenant_id, site_id, visitor_id, channel, status, created_at,"
        " updated_at) VALUES (:tenant, :site, :visitor, :channel, 'open', :now, :now)",
        {
            "tenant": tenant_id,
            "site": site_id,
            "visitor": visitor_id,
            "channel": channel,
            "now": now,
        },
    )
    conversation = await load(tx, conversation_id)
    await announce(tx, conversation, "conversation.created")
    await notify_events.conversation_opened(tx, conversation)
    return conversation


async def set_status(
    tx: Tx,
    conversation_id: int,
    status: Status,
    *,
    only_from: tuple[Status, ...] | None = None,
) -> Conversation | None:
    """Move a conversation to `status` and announce it; None when it was not in `only_from`.

    The condition is part of the UPDATE, so a racing change (an agent reply against an
    escalation step) can never be overwritten.
    """
    allowed = only_from or ("open", "escalated", "closed")
    placeholders = ", ".join(f":from{i}" for i in range(len(allowed)))
    now = times.now_iso()
    changed = await tx.execute(
        "UPDATE conversations SET status = :status, updated_at = :now,"
        " closed_at = CASE WHEN :status = 'closed' THEN :now ELSE NULL END,"
        # Report facts: the first close and the first escalation are kept for good.
        " first_closed_at = COALESCE(first_closed_at,"
        " CASE WHEN :status = 'closed' THEN :now END),"
        " resolution_ms = CASE WHEN :status = 'closed' AND first_closed_at IS NULL"
        f" AND first_visitor_message_at IS NOT NULL THEN {SINCE_FIRST_VISITOR_MS}"
        " ELSE resolution_ms END,"
        " escalated_at = COALESCE(escalated_at, CASE WHEN :status = 'escalated' THEN :now END),"
        # Nobody waits in a closed conversation; stopped here so the announcement says so.
        " waiting_since = CASE WHEN :status = 'closed' THEN NULL ELSE waiting_since END"
        f" WHERE id = :id AND status != :status AND status IN ({placeholders})",
        {
            "status": status,
            "now": now,
            "id": conversation_id,
            **{f"from{i}": value for i, value in enumerate(allowed)},
        },
    )
    if not changed:
        return None
    conversation = await load(tx, conversation_id)
    await announce(tx, conversation, "conversation.updated")
    return conversation
