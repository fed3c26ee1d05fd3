"""The agents' inbox: listing conversations with filters, search and cursors, and read markers.

Listing is keyset-paginated on (updated_at, id), newest first, so a page never repeats or skips
a row that did not change meanwhile; a conversation that changes while an agent pages moves to
the top, where the live events already put it. The `active` view (open and escalated: everyone
not closed) is ordered instead by who has waited longest (`waiting_since`, oldest first, then
the answered ones newest change first), which automatic messages never reshuffle. "unread"
counts the messages after the agent's read marker that someone else wrote (the visitor or other
agents), not system texts.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from omnichat import times
from omnichat.chat import conversations, labels, search_index
from omnichat.chat.conversations import SELECT as CONVERSATION_SELECT
from omnichat.chat.conversations import Conversation
from omnichat.chat.messages import COLUMNS as MESSAGE_COLUMNS
from omnichat.chat.messages import FROM as MESSAGE_FROM
from omnichat.chat.messages import Message
from omnichat.errors import Invalid, NotFound
from omnichat.ids import digits, whole_number
from omnichat.storage.db import DIALECTS, Database, Dialect, Tx, json_values

StatusFilter = Literal["open", "escalated", "closed", "all", "active"]
STATUSES: tuple[StatusFilter, ...] = ("open", "escalated", "closed", "all", "active")
MAX_QUERY = 200
MAX_TERMS = 12
# Letters and digits as SQLite's unicode61 tokenizer sees them, near enough.
WORD = re.compile(r"\w+")
# What looks like a phone number being typed, and the least digits worth a phone search.
PHONE_LIKE = re.compile(r"^[\d\s+().\-/]+$")
MIN_PHONE_DIGITS = 4
# A search looks at no more than this many matches of each index, newest first: a word found in
# half the messages then costs as much as a rare one (issue 11), at the price of missing
# conversations whose only matches are older than the newest SEARCH_BUDGET.
SEARCH_BUDGET = 2000
# Sorts after any time: answered conversations (nobody waiting) come after the waiting ones.
NOBODY_WAITING = "~"

# For the conversations of a page: how far the caller has read and what is unread since...
READS = {
    dialect: """
SELECT c.id, COALESCE(r.last_read_seq, 0) AS last_read_seq,
    (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id
     AND m.seq > COALESCE(r.last_read_seq, 0) AND m.sender != 'system'
     AND m.author_id IS DISTINCT FROM :user) AS unread
FROM conversations c
LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = :user
WHERE c.id IN ("""
    + json_values(dialect, "ids")
    + ")"
    for dialect in DIALECTS
}
# ...and their newest message from a person (the row's preview: the visitor's words, not the
# patience text that came after them), or the newest system one when there is nothing else.
LAST_MESSAGES = {
    dialect: "SELECT"
    + MESSAGE_COLUMNS
    + MESSAGE_FROM
    + "WHERE m.id IN (SELECT COALESCE((SELECT p.id FROM messages p WHERE p.conversation_id"
    " = j.value AND p.sender != 'system' ORDER BY p.seq DESC LIMIT 1), (SELECT s.id FROM"
    " messages s WHERE s.conversation_id = j.value ORDER BY s.seq DESC LIMIT 1))"
    " FROM (" + json_values(dialect, "ids") + ") AS j)"
    for dialect in DIALECTS
}
# Messages, the visitor's name/email/phone, and the follow-ups they left: SQLite's FTS5 tables
# (migration 0015), PostgreSQL's generated `search` columns with their GIN indexes (accents
# folded by search_fold on both sides, as FTS5's unicode61 does).
SEARCH: dict[Dialect, str] = {
    "sqlite": """(
c.id IN (SELECT m.conversation_id FROM messages m WHERE m.id IN (SELECT rowid FROM messages_fts
    WHERE messages_fts MATCH :match ORDER BY rowid DESC LIMIT :budget))
OR c.visitor_id IN (SELECT rowid FROM visitors_fts WHERE visitors_fts MATCH :people
    ORDER BY rowid DESC LIMIT :budget)
OR c.visitor_id IN (SELECT f.visitor_id FROM followups f WHERE f.id IN (SELECT rowid
    FROM followups_fts WHERE followups_fts MATCH :people ORDER BY rowid DESC LIMIT :budget))
)""",
    "postgresql": """(
c.id IN (SELECT m.conversation_id FROM messages m WHERE m.id IN (SELECT id FROM messages
    WHERE search @@ to_tsquery('simple', search_fold(:match)) ORDER BY id DESC LIMIT :budget))
OR c.visitor_id IN (SELECT id FROM visitors
    WHERE search @@ to_tsquery('simple', search_fold(:people)) ORDER BY id DESC LIMIT :budget)
OR c.visitor_id IN (SELECT f.visitor_id FROM followups f WHERE f.id IN (SELECT id FROM followups
    WHERE search @@ to_tsquery('simple', search_fold(:people)) ORDER BY id DESC LIMIT :budget))
)""",
}
WAITING_KEY = f"COALESCE(c.waiting_since, '{NOBODY_WAITING}')"


@dataclass(frozen=True)
class Filters:
    status: StatusFilter = "open"
    # "me", "none", a user id, or None for anyone.
    assignee: int | Literal["me", "none"] | None = None
    query: str | None = None
    # A label name; only conversations carrying it (any letter case).
    label: str | None = None

    @classmethod
    def parse(
        cls,
        status: str | None,
        assignee: str | None,
        query: str | None,
        label: str | None = None,
    ) -> Filters:
        """Filters from the listing's query parameters; `Invalid` names a bad one."""
        chosen = next((known for known in STATUSES if known == (status or "open")), None)
        if chosen is None:
            raise Invalid("status", f"must be one of {', '.join(STATUSES)}")
        who: int | Literal["me", "none"] | None
        if assignee is None:
            who = None
        elif assignee == "me":
            who = "me"
        elif assignee == "none":
            who = "none"
        else:
            number = digits(assignee, 0)
            if number is None:
                raise Invalid("assignee", "must be me, none or a user id")
            who = number
        named = labels.parse_name(label, "label") if label else None
        return cls(chosen, who, query if query and query.strip() else None, named)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's (updated_at, id), and in the active view its waiting
    key (`waiting_since`, or NOBODY_WAITING)."""

    updated_at: str
    id: int
    waiting: str | None = None

    def encode(self) -> str:
        parts: list[str | int] = [self.updated_at, self.id]
        if self.waiting is not None:
            parts.append(self.waiting)
        raw = orjson.dumps(parts)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor a previous page handed out; anything else is `Invalid("before")`."""
        wrong = Invalid("before", "is not a cursor this API handed out")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            parts = orjson.loads(raw)
        except (binascii.Error, ValueError, TypeError):
            raise wrong from None
        if not isinstance(parts, list) or len(parts) not in (2, 3):
            raise wrong
        updated_at, id_, *rest = parts
        number = whole_number(id_, 0)
        waiting = rest[0] if rest else None
        if not isinstance(updated_at, str) or number is None:
            raise wrong
        if rest and not isinstance(waiting, str):
            raise wrong
        return cls(updated_at, number, waiting)


@dataclass(frozen=True)
class Item:
    """A conversation as the inbox shows it to one agent."""

    conversation: Conversation
    last_message: Message | None
    last_read_seq: int
    unread: int

    def to_json(self) -> dict[str, Any]:
        return {
            **self.conversation.to_json(),
            "last_message": None if self.last_message is None else self.last_message.to_json(),
            "last_read_seq": self.last_read_seq,
            "unread": self.unread,
        }


def match_expression(text: str, dialect: Dialect = "sqlite") -> str:
    """The full-text query for what an agent typed (FTS5's, or PostgreSQL's tsquery): every
    word must occur, each as a prefix.

    Words are quoted, so operators and syntax in the input are searched as plain text instead
    of failing the query.
    """
    if len(text) > MAX_QUERY:
        raise Invalid("q", f"must be at most {MAX_QUERY} characters")
    words = WORD.findall(text)[:MAX_TERMS]
    if not words:
        raise Invalid("q", "must contain at least one letter or digit")
    if dialect == "postgresql":
        return " & ".join(f"'{word}':*" for word in words)
    return " ".join(f'"{word}"*' for word in words)


def people_expression(text: str, dialect: Dialect = "sqlite") -> str:
    """The full-text query over names, emails, phones and follow-ups: the words as prefixes
    and, when the text looks like a phone number, its digits anywhere in a stored number.

    Leading zeros (a trunk prefix like the 0 of "0161", or an international 00) are dropped:
    numbers are stored in E.164, and indexed with every suffix of their digits.
    """
    words = match_expression(text, dialect)
    digits = "".join(ch for ch in text if ch.isdigit()).lstrip("0")
    if PHONE_LIKE.match(text.strip()) and len(digits) >= MIN_PHONE_DIGITS:
        if dialect == "postgresql":
            return f"({words}) | '{digits}':*"
        return f'({words}) OR (phone : "{digits}"*)'
    return words


async def page(
    db: Database,
    tenant_id: int,
    user_id: int,
    filters: Filters,
    before: Cursor | None,
    limit: int,
) -> tuple[list[Item], Cursor | None]:
    """One page of the tenant's conversations, newest change first, and the next page's cursor."""
    where = ["c.tenant_id = :tenant"]
    params: dict[str, Any] = {"tenant": tenant_id, "limit": limit + 1}
    active = filters.status == "active"
    if active:
        where.append("c.status IN ('open', 'escalated')")
    elif filters.status != "all":
        where.append("c.status = :status")
        params["status"] = filters.status
    if filters.assignee == "none":
        where.append("c.assignee_id IS NULL")
    elif filters.assignee is not None:
        where.append("c.assignee_id = :assignee")
        params["assignee"] = user_id if filters.assignee == "me" else filters.assignee
    if filters.query is not None:
        await search_index.catch_up(db)
        where.append(SEARCH[db.dialect])
        params["match"] = match_expression(filters.query, db.dialect)
        params["people"] = people_expression(filters.query, db.dialect)
        params["budget"] = SEARCH_BUDGET
    if filters.label is not None:
        where.append(labels.HAVING_LABEL)
        params["label_key"] = labels.name_key(filters.label)
    if before is not None and active:
        if before.waiting is None:
            raise Invalid("before", "is not a cursor of this view")
        where.append(
            f"({WAITING_KEY} > :before_waiting OR ({WAITING_KEY} = :before_waiting"
            " AND (c.updated_at, c.id) < (:before_at, :before_id)))"
        )
        params.update(before_waiting=before.waiting)
        params.update(before_at=before.updated_at, before_id=before.id)
    elif before is not None:
        where.append("(c.updated_at, c.id) < (:before_at, :before_id)")
        params.update(before_at=before.updated_at, before_id=before.id)
    order = f"{WAITING_KEY} ASC, " if active else ""
    rows = await db.fetch_all(
        CONVERSATION_SELECT
        + " WHERE "
        + " AND ".join(where)
        + f" ORDER BY {order}c.updated_at DESC, c.id DESC LIMIT :limit",
        params,
    )
    found = [Conversation.from_row(row) for row in rows[:limit]]
    items = await _with_details(db, user_id, found)
    last = found[-1] if len(rows) > limit else None
    if last is None:
        return items, None
    waiting = (last.waiting_since or NOBODY_WAITING) if active else None
    return items, Cursor(last.updated_at, last.id, waiting)


async def item(db: Database, tenant_id: int, user_id: int, conversation_id: int) -> Item:
    """One conversation of the tenant as the inbox shows it; another tenant's id is `NotFound`."""
    conversation = await conversations.for_tenant(db, tenant_id, conversation_id)
    if conversation is None:
        raise NotFound("no such conversation")
    return (await _with_details(db, user_id, [conversation]))[0]


async def _with_details(db: Database, user_id: int, found: list[Conversation]) -> list[Item]:
    if not found:
        return []
    ids = orjson.dumps([c.id for c in found]).decode()
    reads = {
        row["id"]: row
        for row in await db.fetch_all(READS[db.dialect], {"user": user_id, "ids": ids})
    }
    rows = await db.fetch_all(LAST_MESSAGES[db.dialect], {"ids": ids})
    last = {
        message.conversation_id: message
        for message in (Message.from_row(row, db.signer) for row in rows)
    }
    return [
        Item(c, last.get(c.id), reads[c.id]["last_read_seq"], reads[c.id]["unread"]) for c in found
    ]


async def advance_read(tx: Tx, user_id: int, conversation_id: int, seq: int) -> int:
    """Move a user's read marker forward to `seq` (never back); returns the marker.

    The user's other sockets hear of it, so a second tab clears its unread badge too.
    """
    row = await tx.fetch_one(
        "INSERT INTO conversation_reads (user_id, conversation_id, last_read_seq, updated_at)"
        " VALUES (:user, :conversation, :seq, :now)"
        " ON CONFLICT (user_id, conversation_id) DO UPDATE"
        # CASE rather than SQLite's two-argument MAX, which PostgreSQL spells GREATEST.
        " SET last_read_seq = CASE WHEN conversation_reads.last_read_seq > excluded.last_read_seq"
        " THEN conversation_reads.last_read_seq ELSE excluded.last_read_seq END,"
        " updated_at = excluded.updated_at RETURNING last_read_seq",
        {"user": user_id, "conversation": conversation_id, "seq": seq, "now": times.now_iso()},
    )
    assert row is not None
    marker = int(row[0])
    frame = orjson.dumps({"type": "read", "conversation_id": conversation_id, "seq": marker})
    tx.publish(("user", user_id), frame.decode())
    return marker


async def mark_read(
    db: Database, tenant_id: int, user_id: int, conversation_id: int, seq: int | None
) -> int:
    """Mark a conversation read up to `seq` (default: all of it, at most its last seq)."""

    async def op(tx: Tx) -> int:
        last_seq = (await conversations.owned(tx, tenant_id, conversation_id)).last_seq
        upto = last_seq if seq is None else min(seq, last_seq)
        return await advance_read(tx, user_id, conversation_id, upto)

    return await db.write(op)
