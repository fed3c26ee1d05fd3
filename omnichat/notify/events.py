"""Who hears of what: staff events turned into queued mails and pushes, in the event's own
transaction.

- new conversation: every enabled staff member of the tenant, by the channels they chose for
  `new_conversation` (push by default, never email unless they ask for it);
- assigned: the assignee, unless they assigned it to themselves;
- escalated: every enabled staff member (nobody answered in time: anyone may take it);
- follow-up: every enabled staff member.

A conversation reopened by the visitor is not "new". Queueing never fails the event: an error
here is logged and the chat goes on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from omnichat.notify import prefs, push, queue
from omnichat.storage.db import Tx

if TYPE_CHECKING:  # chat/ calls in here; importing it at run time would be a cycle
    from omnichat.chat.conversations import Conversation

log = logging.getLogger("omnichat.notify")


async def _staff(tx: Tx, tenant_id: int, only: int | None) -> list[tuple[int, prefs.Prefs]]:
    rows = await tx.fetch_all(
        "SELECT id, notify FROM users WHERE tenant_id = :tenant AND disabled = 0"
        " AND (:only IS NULL OR id = :only) ORDER BY id",
        {"tenant": tenant_id, "only": only},
    )
    return [(row["id"], prefs.load(row["notify"])) for row in rows]


async def _notify(
    tx: Tx,
    tenant_id: int,
    event: str,
    payload: dict[str, Any],
    *,
    only: int | None = None,
    skip: int | None = None,
) -> None:
    try:
        chosen = [(uid, p[event]) for uid, p in await _staff(tx, tenant_id, only) if uid != skip]
        for user_id, channels in chosen:
            if "email" in channels:
                await queue.enqueue(
                    tx,
                    tenant_id=tenant_id,
                    channel="email",
                    kind=event,
                    payload=payload,
                    user_id=user_id,
                )
        pushed = [user_id for user_id, channels in chosen if "push" in channels]
        for subscription in await push.of_users(tx, pushed):
            await queue.enqueue(
                tx,
                tenant_id=tenant_id,
                channel="push",
                kind=event,
                payload=payload,
                user_id=subscription.user_id,
                subscription_id=subscription.id,
            )
    except Exception:
        # Chat must never fail because a notification could not be queued.
        log.exception("queueing notifications failed", extra={"fields": {"event": event}})


async def conversation_opened(tx: Tx, conversation: Conversation) -> None:
    await _notify(
        tx, conversation.tenant_id, "new_conversation", {"conversation_id": conversation.id}
    )


async def conversation_assigned(tx: Tx, conversation: Conversation, actor_id: int | None) -> None:
    if conversation.assignee_id is None:
        return
    await _notify(
        tx,
        conversation.tenant_id,
        "assigned",
        {"conversation_id": conversation.id},
        only=conversation.assignee_id,
        skip=actor_id,
    )


async def conversation_escalated(tx: Tx, conversation: Conversation) -> None:
    await _notify(tx, conversation.tenant_id, "escalated", {"conversation_id": conversation.id})


async def followup_created(
    tx: Tx, tenant_id: int, followup_id: int, conversation_id: int | None
) -> None:
    await _notify(
        tx,
        tenant_id,
        "followup",
        {"followup_id": followup_id, "conversation_id": conversation_id},
    )
