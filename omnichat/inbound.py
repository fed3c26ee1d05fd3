"""A message from a contact: it joins their conversation, opening or reopening it as needed.

Web visitors and SMS/WhatsApp contacts go through the same rules: one conversation per contact
and channel; the first message opens it and a message after close reopens it, each time with the
site's greeting stored as a system message so it survives reloads.
"""

from __future__ import annotations

from omnichat import conversations, messages
from omnichat.conversations import Channel
from omnichat.db import Database, Tx
from omnichat.hub import Hub, Subscriber
from omnichat.messages import Stored
from omnichat.sites import Site


async def receive(
    db: Database,
    hub: Hub,
    site: Site,
    visitor_id: int,
    channel: Channel,
    text: str,
    client_id: str | None,
    origin: Subscriber | None = None,
) -> Stored:
    """Store a contact's message (once per client id) and return it with its conversation."""

    async def op(tx: Tx) -> Stored:
        row = await tx.fetch_one(
            "SELECT id, status FROM conversations WHERE visitor_id = :v AND channel = :channel",
            {"v": visitor_id, "channel": channel},
        )
        if row is not None:
            first = await messages.existing(tx, row["id"], client_id)
            if first is not None and first.sender == "visitor":
                return messages.Stored(first, await conversations.load(tx, row["id"]), True)
        if row is None:
            opened = await conversations.create(
                tx, hub, site.tenant_id, site.id, visitor_id, channel
            )
            conversation_id = opened.id
        else:
            conversation_id = row["id"]
        if row is None or row["status"] == "closed":
            if row is not None:
                await conversations.set_status(tx, hub, conversation_id, "open")
            await messages.insert(tx, hub, conversation_id, "system", site.settings.greeting)
        return await messages.insert(
            tx, hub, conversation_id, "visitor", text, client_id=client_id, origin=origin
        )

    return await db.write(op)
