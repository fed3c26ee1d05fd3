"""What agents do to a conversation: reply or note, assign, close and reopen.

Each action is one writer transaction that checks the conversation belongs to the caller's
tenant, changes it, appends its event (so every agent sees it live or on resume), tells the
visitor when it concerns them, and audits assignments and status changes.

Assignment rule: agents may claim an unassigned conversation (assign it to themselves) and
unassign themselves; admins and owners may assign any conversation to any enabled user of their
tenant, or unassign it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichat.accounts import audit, users
from omnichat.accounts.staff import Staff
from omnichat.chat import conversations, escalation, inbox, messages
from omnichat.chat.attachments import Uploader
from omnichat.chat.conversations import Conversation, Status
from omnichat.chat.messages import Stored
from omnichat.errors import Conflict, Forbidden, Invalid
from omnichat.notify import events as notify_events
from omnichat.storage.db import Database, Tx

CLOSED_TEXT = "This conversation was closed. Send a message any time to start again."
REOPENED_TEXT = "This conversation was reopened by our team."


async def _owned(tx: Tx, staff: Staff, conversation_id: int) -> Conversation:
    """The conversation, locked until commit: what an action decides from it (the assignment
    rule, the status, a resent client id) must still hold when it writes, also when another
    process acts on the same conversation at the same moment (PostgreSQL)."""
    await tx.fetch_one(
        "SELECT id FROM conversations WHERE id = :id" + tx.for_update, {"id": conversation_id}
    )
    return await conversations.owned(tx, staff.tenant_id, conversation_id)


async def reply(
    db: Database,
    staff: Staff,
    conversation_id: int,
    text: str,
    *,
    client_id: str | None,
    private: bool,
    attachments: Sequence[int] = (),
) -> Stored:
    """Store an agent's reply (the visitor sees it) or private note (only agents do).

    A resent `client_id` returns the first message. Replying to a closed conversation needs a
    reopen first (the visitor was told it ended); notes are always allowed. A reply to an
    escalated conversation brings it back to open: someone is handling it now.
    """

    async def op(tx: Tx) -> Stored:
        conversation = await _owned(tx, staff, conversation_id)
        first = await messages.existing(tx, conversation_id, client_id)
        if first is not None and first.sender == "agent":
            return Stored(first, conversation, duplicate=True)
        if not private and conversation.status == "closed":
            raise Conflict(
                "this conversation is closed; reopen it to reply", code="conversation_closed"
            )
        if not private and conversation.status == "escalated":
            await conversations.set_status(tx, conversation_id, "open", only_from=("escalated",))
        stored = await messages.insert(
            tx,
            conversation_id,
            "agent",
            text,
            client_id=client_id,
            author=(staff.id, staff.name),
            private=private,
            attachments=attachments,
            uploader=Uploader(staff.tenant_id, user_id=staff.id),
        )
        # Whoever writes has read the conversation up to their own message.
        await inbox.advance_read(tx, staff.id, conversation_id, stored.message.seq)
        return stored

    return await db.write(op)


async def assign(
    db: Database,
    staff: Staff,
    conversation_id: int,
    user_id: int | None,
    ip: str | None,
) -> Conversation:
    """Assign the conversation to `user_id` (None unassigns) under the assignment rule."""

    async def op(tx: Tx) -> Conversation:
        conversation = await _owned(tx, staff, conversation_id)
        if user_id is not None:
            assignee = await users.user_by_id(tx, staff.tenant_id, user_id)
            if assignee is None or assignee.disabled:
                raise Invalid("user_id", "must be an enabled user of your team")
        _check_assign_rule(staff, conversation.assignee_id, user_id)
        if conversation.assignee_id == user_id:
            return conversation
        updated = await conversations.set_assignee(tx, conversation_id, user_id)
        await conversations.announce(tx, updated, "conversation.updated")
        await notify_events.conversation_assigned(tx, updated, staff.id)
        details = {"from": conversation.assignee_id, "to": user_id}
        await _audit(tx, staff, "conversation.assigned", updated, ip, details)
        return updated

    return await db.write(op)


def _check_assign_rule(staff: Staff, current: int | None, wanted: int | None) -> None:
    if staff.has_role("admin"):
        return
    if wanted is not None and wanted != staff.id:
        raise Forbidden("agents can only assign conversations to themselves")
    if current is not None and current != staff.id:
        raise Forbidden(
            "this conversation is assigned to someone else; an admin can reassign it",
            code="assigned_to_other",
        )


async def close(db: Database, staff: Staff, conversation_id: int, ip: str | None) -> Conversation:
    """Close the conversation and tell the visitor; closing a closed one changes nothing."""
    return await _move(db, staff, conversation_id, "closed", ("open", "escalated"), ip)


async def reopen(db: Database, staff: Staff, conversation_id: int, ip: str | None) -> Conversation:
    """Reopen a closed conversation and tell the visitor; anything else is left as it is."""
    return await _move(db, staff, conversation_id, "open", ("closed",), ip)


async def _move(
    db: Database,
    staff: Staff,
    conversation_id: int,
    status: Status,
    only_from: tuple[Status, ...],
    ip: str | None,
) -> Conversation:
    async def op(tx: Tx) -> Conversation:
        before = await _owned(tx, staff, conversation_id)
        moved = await conversations.set_status(tx, conversation_id, status, only_from=only_from)
        if moved is None:
            return before
        await escalation.stop_clock(tx, conversation_id)
        text = CLOSED_TEXT if status == "closed" else REOPENED_TEXT
        stored = await messages.insert(tx, conversation_id, "system", text)
        action = "conversation.closed" if status == "closed" else "conversation.reopened"
        details = {"from": before.status, "to": status}
        await _audit(tx, staff, action, stored.conversation, ip, details)
        return stored.conversation

    return await db.write(op)


async def _audit(
    tx: Tx,
    staff: Staff,
    action: str,
    conversation: Conversation,
    ip: str | None,
    details: dict[str, Any],
) -> None:
    await audit.record(
        tx,
        tenant_id=staff.tenant_id,
        actor_id=staff.id,
        action=action,
        target=f"conversation:{conversation.id}",
        details=details,
        ip=ip,
        token_id=staff.token_id,
    )
