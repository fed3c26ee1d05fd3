"""Messages: validation, the one place a message is stored, and reading them back.

A message is stored, its conversation updated and its event appended in one writer transaction;
the live frames go out after the commit (the sending socket gets an `ack`, the visitor's other
sockets a `message` frame, agents the event). `seq` is assigned in the same transaction, so it
is gapless per conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

import orjson
from orjson import Fragment

from omnichat import times
from omnichat.chat import attachments as files
from omnichat.chat import channels, conversations, events
from omnichat.chat.attachments import Attachment, Uploader
from omnichat.chat.channels import Delivery
from omnichat.chat.conversations import Clock, Conversation, Fact, load
from omnichat.errors import Conflict, Invalid
from omnichat.notify import visitor_mail
from omnichat.protocol.hub import Subscriber
from omnichat.signing import Signer
from omnichat.storage.db import Database, Row, Tx

Sender = Literal["visitor", "agent", "system"]
MAX_TEXT = 4000
MAX_CLIENT_ID = 64
PAGE = 500

COLUMNS = (
    """
m.id, m.conversation_id, m.seq, m.sender, m.author_id, u.name AS author_name, m.text, m.private,
m.client_id, m.created_at, o.status AS delivery_status, o.error_code AS delivery_error_code,
o.error_message AS delivery_error_message,"""
    + files.JSON_COLUMN
)
# SMS/WhatsApp texts carry their outbox row's delivery state; other messages have none.
FROM = (
    " FROM messages m LEFT JOIN users u ON u.id = m.author_id"
    " LEFT JOIN outbox o ON o.message_id = m.id "
)


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    seq: int
    sender: Sender
    author_id: int | None
    author_name: str | None
    text: str
    private: bool
    client_id: str | None
    created_at: str
    delivery: Delivery | None = None
    attachments: tuple[Attachment, ...] = ()

    @classmethod
    def from_row(cls, row: Row, signer: Signer) -> Message:
        """The message of a row read with `COLUMNS`; `signer` signs its files' links."""
        return cls(
            id=row["id"],
            conversation_id=row["conversation_id"],
            seq=row["seq"],
            sender=row["sender"],
            author_id=row["author_id"],
            author_name=row["author_name"],
            text=row["text"],
            private=bool(row["private"]),
            client_id=row["client_id"],
            created_at=row["created_at"],
            delivery=None
            if row["delivery_status"] is None
            else Delivery(
                row["delivery_status"],
                row["delivery_error_code"],
                row["delivery_error_message"],
            ),
            attachments=files.from_column(row["attachments"], signer),
        )

    def to_json(self) -> dict[str, Any]:
        author = (
            None if self.author_id is None else {"id": self.author_id, "name": self.author_name}
        )
        data = {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "seq": self.seq,
            "sender": self.sender,
            "author": author,
            "text": self.text,
            "private": self.private,
            "client_id": self.client_id,
            "created_at": self.created_at,
            "attachments": [attachment.to_json() for attachment in self.attachments],
        }
        if self.delivery is not None:
            data["delivery"] = self.delivery.to_json()
        return data


def clean_text(text: object, may_be_empty: bool = False) -> str:
    """The text trimmed, or `Invalid` unless it is 1 to 4000 code points (0 to 4000 for a
    message that carries files: `may_be_empty`)."""
    if text is None and may_be_empty:
        return ""
    if not isinstance(text, str):
        raise Invalid("text", "must be a string")
    text = text.strip()
    if not text and not may_be_empty:
        raise Invalid("text", "must not be empty")
    if len(text) > MAX_TEXT:
        raise Invalid("text", f"must be at most {MAX_TEXT} characters")
    return text


def clean_client_id(client_id: object, required: bool = True) -> str | None:
    if client_id is None and not required:
        return None
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID:
        raise Invalid("client_id", f"must be a string of 1 to {MAX_CLIENT_ID} characters")
    return client_id


@dataclass(frozen=True)
class Stored:
    """The outcome of a send: the message, its conversation, and whether it was a resend."""

    message: Message
    conversation: Conversation
    duplicate: bool


async def existing(tx: Tx, conversation_id: int, client_id: str | None) -> Message | None:
    if client_id is None:
        return None
    row = await tx.fetch_one(
        "SELECT" + COLUMNS + FROM + "WHERE m.conversation_id = :c AND m.client_id = :client",
        {"c": conversation_id, "client": client_id},
    )
    return None if row is None else Message.from_row(row, tx.signer)


async def insert(
    tx: Tx,
    conversation_id: int,
    sender: Sender,
    text: str,
    *,
    client_id: str | None = None,
    author: tuple[int, str] | None = None,
    private: bool = False,
    origin: Subscriber | None = None,
    attachments: Sequence[int] = (),
    uploader: Uploader | None = None,
) -> Stored:
    """Store one message inside `tx` and schedule its live frames for after the commit.

    A `client_id` already used in the conversation by the same side returns the first message
    (marked duplicate) instead of storing another; used by the other side it is a conflict.
    `attachments` are ids of files `uploader` uploaded and has not sent yet (else `Invalid`).
    """
    now = times.now_iso()
    # A visitor message starts the escalation clock; a public staff reply stops it.
    clock: Clock = "keep"
    fact: Fact = "none"
    if sender == "visitor":
        clock, fact = "start", "visitor"
    elif sender == "agent" and not private:
        clock, fact = "stop", "reply"
    # One statement takes the next seq, refuses a client id already used, keeps the report
    # facts and reads back the conversation: the common path costs three statements in all.
    conversation = await conversations.next_seq(
        tx, conversation_id, clock, client_id, now, fact, None if author is None else author[0]
    )
    if conversation is None:
        first = await existing(tx, conversation_id, client_id)
        assert first is not None, f"conversation {conversation_id} does not exist"
        # Visitors and staff each have their own client ids.
        if first.sender != sender:
            raise Conflict("client_id is already used in this conversation", code="client_id_taken")
        return Stored(first, await load(tx, conversation_id), duplicate=True)
    seq = conversation.last_seq
    message_id = await tx.execute(
        "INSERT INTO messages (conversation_id, seq, sender, author_id, text, private, client_id,"
        " created_at) VALUES (:c, :seq, :sender, :author, :text, :private, :client, :now)",
        {
            "c": conversation_id,
            "seq": seq,
            "sender": sender,
            "author": None if author is None else author[0],
            "text": text,
            "private": int(private),
            "client": client_id,
            "now": now,
        },
    )
    message = Message(
        message_id,
        conversation_id,
        seq,
        sender,
        None if author is None else author[0],
        None if author is None else author[1],
        text,
        private,
        client_id,
        now,
    )
    if attachments:
        assert uploader is not None, "files are sent by their uploader"
        claimed = await files.claim(tx, attachments, uploader, message_id)
        message = replace(message, attachments=claimed)
    if conversation.channel != "web" and sender != "visitor" and not private:
        # The text leaves by its channel, committed with the message or not at all.
        delivery = await channels.send(tx, conversation, message_id, sender, text)
        message = replace(message, delivery=delivery)
    # Encoded once: the same bytes make the agents' event, the visitor frame and the ack.
    encoded = orjson.dumps(message.to_json())
    payload = {"message": Fragment(encoded), "conversation": Fragment(conversation.encoded())}
    await events.append(
        tx,
        conversation.tenant_id,
        "message.created",
        payload,
        webhook_event="message.private" if private else None,
    )
    if not private:
        visitor_frame = b'{"type":"message","message":' + encoded + b"}"
        tx.publish(("visitor", conversation.visitor_id), visitor_frame.decode(), seq, origin)
        if origin is not None:
            # The sending socket gets the ack instead, queued in commit order like the rest.
            tx.after_commit(partial(origin.offer, _ack(client_id, encoded), seq))
        if sender == "agent" and conversation.channel == "web":
            # A visitor who left (no socket open) gets staff replies by mail, batched.
            await visitor_mail.reply_stored(
                tx, conversation.tenant_id, conversation_id, conversation.visitor_id
            )
    return Stored(message, conversation, duplicate=False)


def _ack(client_id: str | None, encoded: bytes) -> str:
    return (
        b'{"type":"ack","client_id":' + orjson.dumps(client_id) + b',"message":' + encoded + b"}"
    ).decode()


def ack_frame(message: Message) -> str:
    """The ack for a message sent again: the one stored the first time."""
    return _ack(message.client_id, orjson.dumps(message.to_json()))


async def page_after(
    db: Database, conversation_id: int, after_seq: int, limit: int = PAGE, public_only: bool = True
) -> list[Message]:
    """Messages with seq above `after_seq`, oldest first; private notes only for staff."""
    where = " AND m.private = 0" if public_only else ""
    rows = await db.fetch_all(
        "SELECT"
        + COLUMNS
        + FROM
        + "WHERE m.conversation_id = :c AND m.seq > :after"
        + where
        + " ORDER BY m.seq LIMIT :limit",
        {"c": conversation_id, "after": after_seq, "limit": limit},
    )
    return [Message.from_row(row, db.signer) for row in rows]


async def latest(db: Database, conversation_id: int, limit: int = PAGE) -> list[Message]:
    """The newest `limit` public messages, oldest first (a widget's history on load)."""
    rows = await db.fetch_all(
        "SELECT * FROM (SELECT" + COLUMNS + FROM + "WHERE m.conversation_id = :c AND m.private = 0"
        " ORDER BY m.seq DESC LIMIT :limit) AS newest ORDER BY seq",
        {"c": conversation_id, "limit": limit},
    )
    return [Message.from_row(row, db.signer) for row in rows]
