"""A text that reached us through a verified Twilio webhook, stored like any contact's message.

The receiving number (`To`) picks the site; the sender (`From`) is the contact: one visitor row
per tenant, channel and number, with no token. The message then goes through `inbound.receive`
exactly like a web chat (join, open or reopen the conversation, with the greeting), with the
`MessageSid` as its client id, so a retried or replayed webhook never stores it twice.

Media (MMS) are not waited for: the message is stored with its body at once and each media
link is queued in the same transaction for `media.Fetcher`, which adds the files to the message
later (`message.updated`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from omnichat import phones, sites, times
from omnichat.accounts.presence import Presence
from omnichat.chat import inbound
from omnichat.chat.conversations import Channel
from omnichat.chat.messages import MAX_TEXT, Stored
from omnichat.errors import BadRequest
from omnichat.sites import Site
from omnichat.storage.db import Database, Tx
from omnichat.twilio import media

MAX_MEDIA = 10  # Twilio's own limit per message
MAX_NAME = 200
EMPTY_TEXT = "(empty message)"


@dataclass(frozen=True)
class Text:
    """The parts of an incoming-message webhook we use."""

    sid: str
    channel: str
    sender: str  # E.164
    receiver: str  # E.164
    body: str
    media: tuple[str, ...]
    profile_name: str | None

    @classmethod
    def parse(cls, params: Mapping[str, str], api_base_url: str = "https://api.twilio.com") -> Text:
        """The webhook's fields, or `BadRequest` naming what is missing or malformed."""
        sid = params.get("MessageSid", "")
        if not 1 <= len(sid) <= 64:
            raise BadRequest("MessageSid is missing", code="bad_webhook")
        channel, sender = phones.split_address(params.get("From", ""))
        receiver_channel, receiver = phones.split_address(params.get("To", ""))
        if sender is None or receiver is None:
            raise BadRequest("From and To must be phone numbers", code="bad_webhook")
        if channel != receiver_channel:
            raise BadRequest("From and To are on different channels", code="bad_webhook")
        count = params.get("NumMedia", "0")
        # Only Twilio's https links (or the configured API's own) are fetched; nothing else.
        api = api_base_url.rstrip("/") + "/"
        media = tuple(
            url
            for index in range(min(int(count) if count.isdigit() else 0, MAX_MEDIA))
            if (url := params.get(f"MediaUrl{index}", "")).startswith(("https://", api))
        )
        name = (params.get("ProfileName") or "").strip()[:MAX_NAME] or None
        return cls(sid, channel, sender, receiver, params.get("Body", ""), media, name)

    def text(self) -> str:
        """What is stored: the body (empty when files come instead); never too long."""
        text = self.body.strip() or ("" if self.media else EMPTY_TEXT)
        # A verified text is never refused: one over our limit is kept, cut.
        return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


async def contact(db: Database, site: Site, channel: str, phone: str, name: str | None) -> int:
    """The id of the tenant's contact for `phone` on `channel`, created on first contact."""
    # Returning contacts, the common case, cost a read instead of a second commit.
    known = await db.fetch_value(
        "SELECT id FROM visitors WHERE tenant_id = :tenant AND contact_channel = :channel"
        " AND phone = :phone",
        {"tenant": site.tenant_id, "channel": channel, "phone": phone},
    )
    if known is not None:
        return int(known)

    async def op(tx: Tx) -> int:
        now = times.now_iso()
        row = await tx.fetch_one(
            "INSERT INTO visitors (tenant_id, site_id, phone, contact_channel, name, created_at,"
            " last_seen_at) VALUES (:tenant, :site, :phone, :channel, :name, :now, :now)"
            " ON CONFLICT (tenant_id, contact_channel, phone) WHERE contact_channel IS NOT NULL"
            " DO UPDATE SET last_seen_at = excluded.last_seen_at,"
            " name = COALESCE(visitors.name, excluded.name) RETURNING id",
            {
                "tenant": site.tenant_id,
                "site": site.id,
                "phone": phone,
                "channel": channel,
                "name": name,
                "now": now,
            },
        )
        assert row is not None
        return int(row[0])

    return await db.write(op)


async def receive(db: Database, text: Text, presence: Presence | None = None) -> Stored | None:
    """Store an incoming text in its contact's conversation; None when no site has the number."""
    site = await sites.site_by_number(db, text.channel, text.receiver)
    if site is None:
        return None
    visitor_id = await contact(db, site, text.channel, text.sender, text.profile_name)
    channel: Channel = "whatsapp" if text.channel == "whatsapp" else "sms"

    async def queue_media(tx: Tx, stored: Stored) -> None:
        await media.enqueue(tx, stored, visitor_id, text.media)

    return await inbound.receive(
        db,
        site,
        visitor_id,
        channel,
        text.text(),
        text.sid,
        presence=presence,
        also=queue_media if text.media else None,
    )
