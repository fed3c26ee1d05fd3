"""Auto-assignment: a site that asks for it gives each new or reopened conversation to an online
staff member at once, round-robin, under a per-agent cap.

It runs inside the write transaction that opens or reopens the conversation, so nobody ever
sees it unassigned. Who is online depends on the sockets this process holds (`presence`), which
the writer cannot look at: callers capture the connected user ids before queuing the write and
pass them in; the availability switch, the account and the cap are read in the transaction.

Every staff role takes chats (agents, admins and owners alike): a clinic's office manager who
switches to online answers patients too. Round-robin: of the eligible, the one auto-assigned
least recently (never first, then oldest `last_assigned_at`, then lowest id).
"""

from __future__ import annotations

from collections.abc import Collection

import orjson

from omnichat import times
from omnichat.accounts import audit
from omnichat.accounts.users import ONLINE
from omnichat.chat import conversations
from omnichat.chat.conversations import Conversation
from omnichat.notify import events as notify_events
from omnichat.sites import Site
from omnichat.storage.db import DIALECTS, Tx

# `:cap` 0 means no cap; open and escalated conversations of the site count against it.
NEXT_ASSIGNEE = {
    dialect: f"""
SELECT u.id FROM users u
WHERE u.id IN ({ONLINE[dialect]})
  AND (:cap = 0 OR (
    SELECT COUNT(*) FROM conversations c
    WHERE c.tenant_id = :tenant AND c.assignee_id = u.id AND c.site_id = :site
      AND c.status != 'closed'
  ) < :cap)
ORDER BY u.last_assigned_at IS NOT NULL, u.last_assigned_at, u.id
LIMIT 1
"""
    for dialect in DIALECTS
}


async def auto_assign(
    tx: Tx, site: Site, conversation: Conversation, connected: Collection[int]
) -> Conversation:
    """Give an unassigned conversation of `site` to the next eligible staff member, if the site
    auto-assigns and someone is eligible; returns the conversation as it now is."""
    if not site.settings.auto_assign or conversation.assignee_id is not None or not connected:
        return conversation
    # On PostgreSQL, conversations of one site opening at once (on several processes) choose
    # one after the other, each seeing the last one's choice: the round-robin turns and the
    # cap holds. The lock is the transaction's; the next statement reads what came before it.
    await tx.lock(f"auto_assign:{site.id}")
    row = await tx.fetch_one(
        NEXT_ASSIGNEE[tx.dialect],
        {
            "tenant": site.tenant_id,
            "site": site.id,
            "cap": site.settings.max_open_per_agent,
            "connected": orjson.dumps(sorted(connected)).decode(),
        },
    )
    if row is None:
        return conversation
    await tx.execute(
        "UPDATE users SET last_assigned_at = :now WHERE id = :id",
        {"now": times.now_iso(), "id": row["id"]},
    )
    assigned = await conversations.set_assignee(tx, conversation.id, row["id"])
    await conversations.announce(tx, assigned, "conversation.updated")
    await notify_events.conversation_assigned(tx, assigned, None)
    await audit.record(
        tx,
        tenant_id=site.tenant_id,
        actor_id=None,
        action="conversation.assigned",
        target=f"conversation:{conversation.id}",
        details={"from": None, "to": row["id"], "auto": True},
    )
    return assigned
