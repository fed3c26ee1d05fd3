"""A message from a contact: it joins their conversation, opening or reopening it as needed.

Web visitors and SMS/WhatsApp contacts go through the same rules: one conversation per contact
and channel; the first message opens it and a message after close reopens it, each time with the
site's greeting stored as a system message so it survives reloads. Outside the site's business
hours the greeting is left out and the away text answers the message instead, with the
conversation escalated at once (the widget offers the follow-up form).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from omnichat import times
from omnichat.accounts.presence import Presence
from omnichat.chat import assignment, business_hours, conversations, escalation, messages
from omnichat.chat.attachments import Uploader
from omnichat.chat.conversations import Channel
from omnichat.chat.messages import Stored
from omnichat.protocol.hub import Subscriber
from omnichat.sites import Site
from omnichat.storage.db import Database, Tx


async def receive(
    db: Database,
    site: Site,
    visitor_id: int,
    channel: Channel,
    text: str,
    client_id: str | None,
    origin: Subscriber | None = None,
    *,
    presence: Presence | None = None,
    attachments: Sequence[int] = (),
    also: Callable[[Tx, Stored], Awaitable[None]] | None = None,
) -> Stored:
    """Store a contact's message (once per client id) and return it with its conversation.

    A conversation the message opens or reopens is auto-assigned when the site asks for it, to
    staff online in `presence` (None, for tools and domain tests: nobody is). `also` runs in
    the same transaction after a newly stored message (an MMS queues its media fetches there).
    """
    # Who has a socket open is known here, not on the writer thread: capture it now.
    connected = frozenset() if presence is None else presence.connected_in(site.tenant_id)
    uploader = Uploader(site.tenant_id, visitor_id=visitor_id)

    async def op(tx: Tx) -> Stored:
        stored = await store(tx)
        if also is not None and not stored.duplicate:
            await also(tx, stored)
        return stored

    async def store(tx: Tx) -> Stored:
        if tx.for_update:
            # Two messages of one contact on two processes at once (two tabs, an SMS and its
            # resend) must not both open, or reopen and greet, the conversation.
            await tx.fetch_one(
                "SELECT id FROM visitors WHERE id = :v FOR UPDATE", {"v": visitor_id}
            )
        found = await conversations.find(tx, visitor_id, channel)
        if found is None:
            opened = await conversations.create(tx, site.tenant_id, site.id, visitor_id, channel)
            await assignment.auto_assign(tx, site, opened, connected)
            conversation_id = opened.id
        else:
            conversation_id, status = found
            if status != "closed":
                return await messages.insert(
                    tx,
                    conversation_id,
                    "visitor",
                    text,
                    client_id=client_id,
                    origin=origin,
                    attachments=attachments,
                    uploader=uploader,
                )
            # A resend of a message stored before the close must not reopen the conversation.
            first = await messages.existing(tx, conversation_id, client_id)
            if first is not None and first.sender == "visitor":
                return Stored(first, await conversations.load(tx, conversation_id), True)
            reopened = await conversations.set_status(tx, conversation_id, "open")
            await escalation.stop_clock(tx, conversation_id)
            if reopened is not None:
                await assignment.auto_assign(tx, site, reopened, connected)
        # The conversation is new or reopened: greet, unless it is outside business hours.
        away = not business_hours.is_open(site.settings.business_hours, times.now())
        if not away:
            await messages.insert(tx, conversation_id, "system", site.settings.greeting)
        stored = await messages.insert(
            tx,
            conversation_id,
            "visitor",
            text,
            client_id=client_id,
            origin=origin,
            attachments=attachments,
            uploader=uploader,
        )
        if away:
            await escalation.turn_away(tx, site, conversation_id)
        return stored

    return await db.write(op)
