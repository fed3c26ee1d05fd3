"""A person's other conversations: the ones staff see as "earlier conversations".

A web visitor has one conversation, and an SMS or WhatsApp contact is a visitor of its own, so
the same person shows up as several visitors. Conversations are related when they share the
visitor, or the visitors share an email (ignoring case) or a phone number (E.164), within one
tenant. Each of the three lookups is indexed and bounded, so a shared address typed by
thousands of visitors still costs a fixed amount; the conversations are then read by visitor
(the `+` keeps SQLite from walking the whole tenant's conversations by recency instead).
"""

from __future__ import annotations

from omnichat.chat.conversations import SELECT, Conversation
from omnichat.storage.db import Database

LIMIT = 20
# Visitors taken per shared email or phone, newest first: a bound, not a promise.
VISITORS_PER_CONTACT = 200

RELATED = (
    SELECT
    + """
WHERE +c.tenant_id = :tenant AND c.id != :id AND c.visitor_id IN (
    SELECT :visitor
    UNION ALL
    SELECT id FROM (SELECT id FROM visitors
        WHERE tenant_id = :tenant AND email = :email COLLATE NOCASE
        ORDER BY id DESC LIMIT :per_contact) AS by_email
    UNION ALL
    SELECT id FROM (SELECT id FROM visitors
        WHERE tenant_id = :tenant AND phone = :phone
        ORDER BY id DESC LIMIT :per_contact) AS by_phone
)
ORDER BY c.updated_at DESC, c.id DESC
LIMIT :limit
"""
)


async def conversations_of_same_person(
    db: Database, conversation: Conversation, limit: int = LIMIT
) -> list[Conversation]:
    """The tenant's other conversations of `conversation`'s visitor or of visitors with the same
    email or phone, most recently active first, at most `limit`."""
    rows = await db.fetch_all(
        RELATED,
        {
            "tenant": conversation.tenant_id,
            "id": conversation.id,
            "visitor": conversation.visitor_id,
            "email": conversation.visitor_email,
            "phone": conversation.visitor_phone,
            "per_contact": VISITORS_PER_CONTACT,
            "limit": limit,
        },
    )
    return [Conversation.from_row(row) for row in rows]
