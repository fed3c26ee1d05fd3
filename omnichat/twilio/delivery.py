"""What became of an outbound text: each state change stored and, for a reply, told to agents.

Every change to a reply's delivery appends a `message.updated` event carrying the message (with
its new `delivery`) and its conversation, so the admin page updates live.

At-most-once: before calling Twilio the row is marked `sending` under a fresh attempt id; the
provider's message sid is recorded after. Only a crash (or a timeout) between Twilio's acceptance
and that record leaves the outcome unknown. Such a row is sent again only after a grace period
in which Twilio's status callback, whose URL carries the attempt id, can prove the attempt got
through and settle it without a second text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from omnichat import times
from omnichat.chat import conversations, events, messages
from omnichat.chat.messages import Message
from omnichat.errors import Conflict, NotFound
from omnichat.storage.db import Database, Tx
from omnichat.twilio import outbox
from omnichat.twilio.outbox import Status

log = logging.getLogger("omnichat.twilio")

# Twilio's message statuses as we show them; states we cannot act on are left out.
PROVIDER_STATUS: dict[str, Status] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
# Callbacks can arrive out of order ("delivered" before "sent"): a state only moves forward.
RANK: dict[str, int] = {
    "pending": 0,
    "sending": 0,
    "queued": 1,
    "sent": 2,
    "undelivered": 3,
    "failed": 3,
    "delivered": 4,
    "read": 5,
}
UNKNOWN_OUTCOME = "unknown_outcome"


@dataclass(frozen=True)
class Callback:
    """A verified status callback: the sid, Twilio's status and error code, and the attempt
    named in the callback URL we gave."""

    sid: str
    status: str
    error_code: str | None
    outbox_id: int | None
    attempt_id: str | None


async def _message(tx: Tx, message_id: int) -> Message:
    row = await tx.fetch_one(
        "SELECT" + messages.COLUMNS + messages.FROM + "WHERE m.id = :id", {"id": message_id}
    )
    assert row is not None, f"message {message_id} vanished inside its transaction"
    return Message.from_row(row, tx.signer)


async def announce(tx: Tx, outbox_id: int) -> None:
    """Append `message.updated` for the reply an outbox row carries (alerts have none)."""
    row = await tx.fetch_one("SELECT message_id FROM outbox WHERE id = :id", {"id": outbox_id})
    if row is None or row["message_id"] is None:
        return
    message = await _message(tx, row["message_id"])
    conversation = await conversations.load(tx, message.conversation_id)
    await events.append(
        tx,
        conversation.tenant_id,
        "message.updated",
        {"message": message.to_json(), "conversation": conversation.to_json()},
    )


async def claim(db: Database, row: outbox.Entry, attempt_id: str) -> bool:
    """Mark a pending row `sending` under `attempt_id`; False if someone else moved it.

    One conditional UPDATE by id, and the condition is the state the pass read (still pending,
    the same attempt count, due): on PostgreSQL a second process's claim of the same row waits
    for the first's row lock, re-checks the condition and matches nothing, and a pass that read
    the row before another process's failed attempt put it back for later cannot send it early.
    Claims stay one row each rather than a batch `FOR UPDATE SKIP LOCKED`: the sender checks
    each row (expiry, per-number cap) before claiming it, and a lost claim costs one statement.
    """

    async def op(tx: Tx) -> bool:
        now = times.now_iso()
        changed = await tx.execute(
            "UPDATE outbox SET status = 'sending', attempt_id = :attempt,"
            " attempts = attempts + 1, updated_at = :now WHERE id = :id AND status = 'pending'"
            " AND attempts = :attempts AND next_attempt_at <= :now",
            {"attempt": attempt_id, "now": now, "id": row.id, "attempts": row.attempts},
        )
        return changed == 1

    return await db.write(op)


async def _change(db: Database, outbox_id: int, sql: str, params: dict[str, Any]) -> None:
    """Run one conditional UPDATE of an outbox row; agents hear of it when it changed the row."""

    async def op(tx: Tx) -> None:
        if await tx.execute(sql, {**params, "id": outbox_id}):
            await announce(tx, outbox_id)

    await db.write(op)


async def accepted(
    db: Database, outbox_id: int, attempt_id: str, sid: str | None, status: Status
) -> None:
    """Record Twilio's acceptance of `attempt_id` (a status callback may have come first)."""
    await _change(
        db,
        outbox_id,
        "UPDATE outbox SET provider_sid = COALESCE(provider_sid, :sid),"
        " sent_at = COALESCE(sent_at, :now), updated_at = :now,"
        " error_code = CASE WHEN status = 'sending' THEN NULL ELSE error_code END,"
        " error_message = CASE WHEN status = 'sending' THEN NULL ELSE error_message END,"
        " status = CASE WHEN status = 'sending' THEN :status ELSE status END"
        " WHERE id = :id AND attempt_id = :attempt",
        {"status": status, "sid": sid, "now": times.now_iso(), "attempt": attempt_id},
    )


async def failed(
    db: Database, outbox_id: int, attempt_id: str | None, code: str, message: str
) -> None:
    """Fail a row for good; agents can retry it. With `attempt_id`, the row that attempt is
    sending (a permanent refusal); without, a row waiting in the queue (it is too old)."""
    await _change(
        db,
        outbox_id,
        "UPDATE outbox SET status = 'failed', error_code = :code, error_message = :message,"
        " updated_at = :now WHERE id = :id AND (status = 'sending' AND attempt_id = :attempt"
        " OR status = 'pending' AND :attempt IS NULL)",
        {"code": code, "message": message, "now": times.now_iso(), "attempt": attempt_id},
    )


async def retry_later(
    db: Database,
    outbox_id: int,
    attempt_id: str,
    delay_seconds: float,
    code: str,
    message: str,
) -> None:
    """Put a row back in the queue after a failed attempt. The attempt id stays, so a late
    callback for an attempt whose outcome we did not learn can still settle it."""
    now = times.now()
    await _change(
        db,
        outbox_id,
        "UPDATE outbox SET status = 'pending', next_attempt_at = :at, error_code = :code,"
        " error_message = :message, updated_at = :now"
        " WHERE id = :id AND status = 'sending' AND attempt_id = :attempt",
        {
            "at": times.iso(now + timedelta(seconds=delay_seconds)),
            "code": code,
            "message": message,
            "now": times.iso(now),
            "attempt": attempt_id,
        },
    )


async def defer(db: Database, outbox_id: int, until: str) -> None:
    """Hold a pending row until `until` without counting an attempt (the per-number cap)."""

    async def op(tx: Tx) -> None:
        await tx.execute(
            "UPDATE outbox SET next_attempt_at = :at WHERE id = :id AND status = 'pending'",
            {"at": until, "id": outbox_id},
        )

    await db.write(op)


async def recover(db: Database, claimed_before: str, grace_seconds: float) -> int:
    """Rows left `sending` by a sender that stopped mid-call (claimed before `claimed_before`,
    see `retry.Recovery`) have an unknown outcome. They go back to the queue after the grace
    period, keeping their attempt id for the callback."""

    async def op(tx: Tx) -> int:
        now = times.now()
        rows = await tx.fetch_all(
            "UPDATE outbox SET status = 'pending', next_attempt_at = :at, error_code = :code,"
            " error_message = :message, updated_at = :now"
            " WHERE status = 'sending' AND updated_at < :before RETURNING id",
            {
                "at": times.iso(now + timedelta(seconds=grace_seconds)),
                "code": UNKNOWN_OUTCOME,
                "message": "The server stopped during the call to Twilio; it is sent again"
                " unless Twilio confirms the first attempt.",
                "now": times.iso(now),
                "before": claimed_before,
            },
        )
        for row in rows:
            await announce(tx, row["id"])
        return len(rows)

    return await db.write(op)


async def record_callback(db: Database, callback: Callback) -> bool:
    """Apply a status callback; False when it names no row of ours (or nothing changed)."""
    status = PROVIDER_STATUS.get(callback.status)
    if status is None:
        return False

    async def op(tx: Tx) -> bool:
        # Locked: callbacks for one text ("sent", "delivered") may reach two processes at once,
        # and a state only moves forward.
        row = await tx.fetch_one(
            "SELECT id, status, provider_sid, attempt_id FROM outbox WHERE provider_sid = :sid"
            + tx.for_update,
            {"sid": callback.sid},
        )
        if row is None and callback.outbox_id is not None and callback.attempt_id:
            row = await tx.fetch_one(
                "SELECT id, status, provider_sid, attempt_id FROM outbox WHERE id = :id"
                + tx.for_update,
                {"id": callback.outbox_id},
            )
            if row is not None and row["attempt_id"] != callback.attempt_id:
                # An older attempt than the current one got through after all: the text may
                # arrive twice, and there is nothing left to stop.
                log.warning(
                    "an earlier attempt of an outbound text was also accepted",
                    extra={"fields": {"outbox_id": row["id"]}},
                )
                return False
        if row is None or RANK[status] <= RANK[row["status"]]:
            return False
        failure = status in ("failed", "undelivered")
        await tx.execute(
            "UPDATE outbox SET status = :status, provider_sid = COALESCE(provider_sid, :sid),"
            " sent_at = COALESCE(sent_at, :now), error_code = :code, error_message = :message,"
            " updated_at = :now WHERE id = :id",
            {
                "status": status,
                "sid": callback.sid,
                "now": times.now_iso(),
                "code": callback.error_code if failure else None,
                "message": f"Twilio reports the text {status}." if failure else None,
                "id": row["id"],
            },
        )
        await announce(tx, row["id"])
        return True

    return await db.write(op)


async def retry(db: Database, tenant_id: int, conversation_id: int, message_id: int) -> Message:
    """An agent sends a failed text again: it re-enters the queue as new. Only for the tenant's
    own conversation and a message in it; anything else reads as not found."""

    async def op(tx: Tx) -> Message:
        row = await tx.fetch_one(
            "SELECT o.id, o.status FROM outbox o JOIN messages m ON m.id = o.message_id"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.id = :message AND c.id = :conversation AND c.tenant_id = :tenant"
            + tx.for_update_of("o"),
            {"message": message_id, "conversation": conversation_id, "tenant": tenant_id},
        )
        if row is None:
            raise NotFound("No such text message in this conversation.")
        if row["status"] not in ("failed", "undelivered"):
            raise Conflict(
                f"Only a failed text can be sent again; this one is {row['status']}.",
                code="not_failed",
            )
        now = times.now_iso()
        await tx.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = :now,"
            " queued_at = :now, attempt_id = NULL, provider_sid = NULL, sent_at = NULL,"
            " error_code = NULL, error_message = NULL, updated_at = :now WHERE id = :id",
            {"now": now, "id": row["id"]},
        )
        await announce(tx, row["id"])
        outbox.wake(tx)
        return await _message(tx, message_id)

    return await db.write(op)
