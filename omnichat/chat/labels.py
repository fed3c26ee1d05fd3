"""Labels: names with a colour that admins define and agents put on conversations.

A conversation carries its labels by name (`Conversation.labels`, read in the same query as the
conversation, so a listing costs no extra query per row). Names are unique per tenant ignoring
case, compared by `str.casefold()` (stored as `name_key`). Label changes are staff-only
information: agents get `conversation.updated`, the visitor is told nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from omnichat import times
from omnichat.accounts.staff import Staff
from omnichat.chat import conversations, events
from omnichat.chat.conversations import Conversation
from omnichat.errors import Conflict, Invalid, NotFound
from omnichat.storage.db import Database, Row, Tx, json_values

MAX_NAME = 40
MAX_PER_CONVERSATION = 20
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOR = "#64748b"

# Conversations of the tenant carrying the label whose key is :label_key (the inbox filter).
HAVING_LABEL = (
    "c.id IN (SELECT cl.conversation_id FROM conversation_labels cl"
    " JOIN labels l ON l.id = cl.label_id"
    " WHERE l.tenant_id = :tenant AND l.name_key = :label_key)"
)


@dataclass(frozen=True)
class Label:
    id: int
    name: str
    color: str

    @classmethod
    def from_row(cls, row: Row) -> Label:
        return cls(id=row["id"], name=row["name"], color=row["color"])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "color": self.color}


def name_key(name: str) -> str:
    """What makes two names the same label: case folded, Unicode-normalised."""
    return unicodedata.normalize("NFKC", name).casefold()


def parse_name(value: object, field: str = "name") -> str:
    """A label name: 1 to 40 characters after trimming, no control characters."""
    if not isinstance(value, str):
        raise Invalid(field, "must be a string")
    name = value.strip()
    if not name:
        raise Invalid(field, "must not be empty")
    if len(name) > MAX_NAME:
        raise Invalid(field, f"must be at most {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise Invalid(field, "must not contain control characters")
    return name


def parse_color(value: object) -> str:
    """`#rrggbb` (stored lower-case); missing or null takes the default grey."""
    if value is None:
        return DEFAULT_COLOR
    if not isinstance(value, str) or not COLOR.fullmatch(value):
        raise Invalid("color", "must be a colour written #rrggbb")
    return value.lower()


def parse_names(value: object) -> list[str]:
    """The `labels` of a PUT: a list of label names (duplicates ignoring case are merged)."""
    if not isinstance(value, list):
        raise Invalid("labels", "must be a list of label names")
    if len(value) > MAX_PER_CONVERSATION:
        raise Invalid("labels", f"must hold at most {MAX_PER_CONVERSATION} labels")
    names = [parse_name(item, "labels") for item in value]
    return list({name_key(name): name for name in names}.values())


async def tenant_labels(db: Database, tenant_id: int) -> list[Label]:
    rows = await db.fetch_all(
        "SELECT id, name, color FROM labels WHERE tenant_id = :tenant ORDER BY name_key, id",
        {"tenant": tenant_id},
    )
    return [Label.from_row(row) for row in rows]


async def create(db: Database, staff: Staff, name: str, color: str) -> Label:
    async def op(tx: Tx) -> Label:
        key = name_key(name)
        taken = await tx.fetch_one(
            "SELECT name FROM labels WHERE tenant_id = :tenant AND name_key = :key",
            {"tenant": staff.tenant_id, "key": key},
        )
        if taken is not None:
            raise Conflict(f"a label named {taken['name']} already exists", code="label_taken")
        label_id = await tx.execute(
            "INSERT INTO labels (tenant_id, name, name_key, color, created_at)"
            " VALUES (:tenant, :name, :key, :color, :now)",
            {
                "tenant": staff.tenant_id,
                "name": name,
                "key": key,
                "color": color,
                "now": times.now_iso(),
            },
        )
        return Label(label_id, name, color)

    return await db.write(op)


async def _announce(tx: Tx, conversation: Conversation) -> None:
    """Agents hear of the change; the visitor's sockets do not (labels are internal)."""
    await events.append(
        tx, conversation.tenant_id, "conversation.updated", {"conversation": conversation.to_json()}
    )


async def delete(db: Database, staff: Staff, label_id: int) -> None:
    """Delete a label of the tenant, taking it off its conversations (each one announced)."""

    async def op(tx: Tx) -> None:
        found = await tx.fetch_one(
            "SELECT id FROM labels WHERE id = :id AND tenant_id = :tenant",
            {"id": label_id, "tenant": staff.tenant_id},
        )
        if found is None:
            raise NotFound("no such label")
        rows = await tx.fetch_all(
            "SELECT conversation_id FROM conversation_labels WHERE label_id = :id ORDER BY 1",
            {"id": label_id},
        )
        await tx.execute("DELETE FROM labels WHERE id = :id", {"id": label_id})
        for row in rows:
            await _announce(tx, await conversations.load(tx, row["conversation_id"]))

    await db.write(op)


async def set_on_conversation(
    db: Database, staff: Staff, conversation_id: int, names: list[str]
) -> Conversation:
    """Make `names` the conversation's labels; an unknown name is `Invalid("labels")`."""

    async def op(tx: Tx) -> Conversation:
        before = await conversations.owned(tx, staff.tenant_id, conversation_id)
        wanted: list[int] = []
        for name in names:
            row = await tx.fetch_one(
                "SELECT id FROM labels WHERE tenant_id = :tenant AND name_key = :key",
                {"tenant": staff.tenant_id, "key": name_key(name)},
            )
            if row is None:
                raise Invalid("labels", f"there is no label named {name}")
            wanted.append(row["id"])
        await tx.execute(
            "DELETE FROM conversation_labels WHERE conversation_id = :c"
            f" AND label_id NOT IN ({json_values(tx.dialect, 'ids')})",
            {"c": conversation_id, "ids": orjson.dumps(wanted).decode()},
        )
        for label_id in wanted:
            await tx.execute(
                "INSERT INTO conversation_labels (conversation_id, label_id)"
                " VALUES (:c, :label) ON CONFLICT DO NOTHING",
                {"c": conversation_id, "label": label_id},
            )
        after = await conversations.load(tx, conversation_id)
        if after.labels != before.labels:
            await _announce(tx, after)
        return after

    return await db.write(op)
