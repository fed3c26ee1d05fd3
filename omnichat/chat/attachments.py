"""Attachments: the files sent with messages, their bytes, who may send them, their links.

An upload is stored whole in one writer transaction (the row and its 256 KiB slices) or not at
all, unattached; sending claims it for one message of the same uploader in the message's own
transaction. A message's JSON lists its files with a signed, expiring link (`omnichat.signing`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import orjson

from omnichat import signing, times
from omnichat.errors import Invalid, RateLimited
from omnichat.signing import Signer
from omnichat.storage.db import Database, Row, Tx

log = logging.getLogger("omnichat.attachments")
CHUNK = 256 * 1024
MAX_PER_MESSAGE = 5
PURPOSE = "file"
# An upload never sent within a day is deleted with the retention pass.
UNSENT_HOURS = 24
RETENTION_EVERY_SECONDS = 86400
RETENTION_BATCH = 100
# One column of the message queries (`messages.COLUMNS`): the message's files as JSON, in
# upload order (the partial index keeps each message's rows in id order).
JSON_COLUMN = """
(SELECT json_group_array(json_object('id', a.id, 'name', a.name, 'type', a.type, 'size', a.size,
 'expired', a.expired_at IS NOT NULL)) FROM attachments a WHERE a.message_id = m.id) AS attachments
"""
FIELDS = "id, name, type, size, expired_at IS NOT NULL AS expired"


@dataclass(frozen=True)
class Uploader:
    """Who uploads and may send a file: a visitor or a staff member of a tenant."""

    tenant_id: int
    visitor_id: int | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class Attachment:
    id: int
    name: str
    type: str
    size: int
    expired: bool
    url: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "size": self.size,
            "url": self.url,
            "expired": self.expired,
        }


def link(signer: Signer, attachment_id: int, ttl_seconds: int | None = None) -> str:
    """The signed path that serves the file until the expiry it carries."""
    expires = signing.expiry(signer.ttl_seconds if ttl_seconds is None else ttl_seconds)
    signature = signer.signature(PURPOSE, str(attachment_id), expires)
    return f"/api/v1/files/{attachment_id}?expires={expires}&signature={signature}"


def check_link(signer: Signer, attachment_id: int, expires: int, signature: str) -> bool:
    return signer.check(PURPOSE, str(attachment_id), expires, signature)


def _make(signer: Signer, data: Row | dict[str, Any]) -> Attachment:
    expired = bool(data["expired"])
    return Attachment(
        id=data["id"],
        name=data["name"],
        type=data["type"],
        size=data["size"],
        expired=expired,
        url=None if expired else link(signer, data["id"]),
    )


def from_column(text: str | None, signer: Signer) -> tuple[Attachment, ...]:
    """A message's files from its `JSON_COLUMN`."""
    if not text or text == "[]":
        return ()
    return tuple(_make(signer, item) for item in orjson.loads(text))


def clean_ids(value: object) -> tuple[int, ...]:
    """The `attachments` field of a send: at most 5 distinct ids."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) and 0 < item < 2**63 for item in value
    ):
        raise Invalid("attachments", "must be a list of attachment ids")
    if len(value) > MAX_PER_MESSAGE:
        raise Invalid("attachments", f"at most {MAX_PER_MESSAGE} files per message")
    if len(set(value)) != len(value):
        raise Invalid("attachments", "lists the same file twice")
    return tuple(value)


async def check_quota(db: Database, visitor_id: int, per_minute: int, daily_bytes: int) -> None:
    """Refuse a visitor's upload over the per-minute count or the daily bytes (429)."""
    now = times.now()
    if per_minute:
        count = await db.fetch_value(
            "SELECT COUNT(*) FROM attachments WHERE visitor_id = :v AND created_at > :since",
            {"v": visitor_id, "since": times.iso(now - timedelta(minutes=1))},
        )
        if count >= per_minute:
            raise RateLimited("too many uploads; wait a minute", 60)
    if daily_bytes:
        used = await db.fetch_value(
            "SELECT COALESCE(SUM(size), 0) FROM attachments"
            " WHERE visitor_id = :v AND created_at > :since",
            {"v": visitor_id, "since": times.iso(now - timedelta(days=1))},
        )
        if used >= daily_bytes:
            raise RateLimited("today's upload allowance is used up", 3600)


async def insert(
    tx: Tx,
    uploader: Uploader,
    name: str,
    kind: str,
    spool: IO[bytes],
    message_id: int | None = None,
) -> Attachment:
    """Store the spooled file inside `tx` (unsent, or on `message_id` for fetched MMS media)."""
    spool.seek(0)
    digest = hashlib.sha256()
    attachment_id = await tx.execute(
        "INSERT INTO attachments (tenant_id, visitor_id, user_id, message_id, name, type, size,"
        " sha256, created_at) VALUES (:t, :v, :u, :m, :name, :type, 0, '', :now)",
        {
            "t": uploader.tenant_id,
            "v": uploader.visitor_id,
            "u": uploader.user_id,
            "m": message_id,
            "name": name,
            "type": kind,
            "now": times.now_iso(),
        },
    )
    size = n = 0
    while chunk := spool.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        await tx.execute(
            "INSERT INTO attachment_chunks (attachment_id, n, data) VALUES (:a, :n, :data)",
            {"a": attachment_id, "n": n, "data": chunk},
        )
        n += 1
    await tx.execute(
        "UPDATE attachments SET size = :size, sha256 = :sha WHERE id = :a",
        {"size": size, "sha": digest.hexdigest(), "a": attachment_id},
    )
    return Attachment(attachment_id, name, kind, size, False, link(tx.signer, attachment_id))


async def store(
    db: Database, uploader: Uploader, name: str, kind: str, spool: IO[bytes]
) -> Attachment:
    """Store the spooled file in one transaction; nothing is left of a failed one."""

    async def op(tx: Tx) -> Attachment:
        return await insert(tx, uploader, name, kind, spool)

    return await db.write(op)


async def claim(
    tx: Tx, ids: Sequence[int], uploader: Uploader, message_id: int
) -> tuple[Attachment, ...]:
    """Attach the uploader's unsent files to the message, or `Invalid` (the send rolls back)."""
    for attachment_id in ids:
        changed = await tx.execute(
            "UPDATE attachments SET message_id = :m WHERE id = :id AND tenant_id = :t"
            " AND visitor_id IS NOT DISTINCT FROM :v AND user_id IS NOT DISTINCT FROM :u"
            " AND message_id IS NULL AND expired_at IS NULL",
            {
                "m": message_id,
                "id": attachment_id,
                "t": uploader.tenant_id,
                "v": uploader.visitor_id,
                "u": uploader.user_id,
            },
        )
        if not changed:
            raise Invalid("attachments", f"file {attachment_id} is not yours to send, or was sent")
    return await of_message(tx, message_id)


async def of_message(tx: Tx, message_id: int) -> tuple[Attachment, ...]:
    rows = await tx.fetch_all(
        f"SELECT {FIELDS} FROM attachments WHERE message_id = :m ORDER BY id", {"m": message_id}
    )
    return tuple(_make(tx.signer, row) for row in rows)


async def for_staff(db: Database, tenant_id: int, attachment_id: int) -> Attachment | None:
    """A file of the tenant (uploaded or sent), with a fresh link."""
    row = await db.fetch_one(
        f"SELECT {FIELDS} FROM attachments WHERE id = :id AND tenant_id = :t",
        {"id": attachment_id, "t": tenant_id},
    )
    return None if row is None else _make(db.signer, row)


async def for_visitor(db: Database, visitor_id: int, attachment_id: int) -> Attachment | None:
    """A file the visitor uploaded or that a public message of its conversation carries."""
    row = await db.fetch_one(
        "SELECT a.id, a.name, a.type, a.size, a.expired_at IS NOT NULL AS expired"
        " FROM attachments a LEFT JOIN messages m ON m.id = a.message_id"
        " LEFT JOIN conversations c ON c.id = m.conversation_id"
        " WHERE a.id = :id AND (a.visitor_id = :v OR (c.visitor_id = :v AND m.private = 0))",
        {"id": attachment_id, "v": visitor_id},
    )
    return None if row is None else _make(db.signer, row)


@dataclass(frozen=True)
class Stored:
    """A file's record as its link serves it."""

    id: int
    name: str
    type: str
    size: int


async def served(db: Database, attachment_id: int) -> Stored | None:
    row = await db.fetch_one(
        "SELECT id, name, type, size FROM attachments WHERE id = :id AND expired_at IS NULL",
        {"id": attachment_id},
    )
    return None if row is None else Stored(row["id"], row["name"], row["type"], row["size"])


async def read(db: Database, attachment_id: int, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes `start` to `end` (inclusive), one slice at a time."""
    n = start // CHUNK
    while start <= end:
        offset = start - n * CHUNK
        length = min(CHUNK - offset, end - start + 1)
        data = await db.fetch_value(
            "SELECT substr(data, :from, :length) FROM attachment_chunks"
            " WHERE attachment_id = :a AND n = :n",
            {"from": offset + 1, "length": length, "a": attachment_id, "n": n},
        )
        if not data:
            return
        yield bytes(data)
        start += len(data)
        n += 1


async def expire(db: Database, retention_days: int) -> None:
    """Delete the bytes of files past retention (their messages then say they expired) and
    uploads never sent within a day (a scheduled job)."""
    now = times.now()
    unsent = times.iso(now - timedelta(hours=UNSENT_HOURS))
    cutoff = times.iso(now - timedelta(days=retention_days)) if retention_days else None

    async def op(tx: Tx) -> int:
        rows = await tx.fetch_all(
            "SELECT id, message_id FROM attachments WHERE expired_at IS NULL AND"
            " ((message_id IS NULL AND created_at < :unsent) OR created_at < :cutoff)"
            " LIMIT :batch",
            {"unsent": unsent, "cutoff": cutoff or "", "batch": RETENTION_BATCH},
        )
        for row in rows:
            await tx.execute(
                "DELETE FROM attachment_chunks WHERE attachment_id = :a", {"a": row[0]}
            )
            if row["message_id"] is None:
                await tx.execute("DELETE FROM attachments WHERE id = :a", {"a": row[0]})
            else:
                await tx.execute(
                    "UPDATE attachments SET expired_at = :now WHERE id = :a",
                    {"now": times.iso(now), "a": row[0]},
                )
        return len(rows)

    done = 0
    while (count := await db.write(op)) > 0:
        done += count
        if count < RETENTION_BATCH:
            break
    if done:
        log.info("attachments expired", extra={"fields": {"count": done}})
