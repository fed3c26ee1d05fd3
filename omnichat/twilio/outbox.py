"""The outbox: every SMS/WhatsApp text we owe, written in the transaction of what caused it.

A reply is stored with its outbox row or not at all, so neither a provider outage nor a restart
can lose it; the sender worker drains the table. Recipients come only from server-side records:
the phone of a contact whose texts reached us through a signed webhook, or the alert numbers an
admin set on the site. Nothing a website visitor sends names a number we text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from omnichat import phones, sites, times
from omnichat.chat import channels
from omnichat.chat.channels import Delivery, DeliveryStatus
from omnichat.chat.conversations import Conversation
from omnichat.errors import Invalid
from omnichat.logs import mask_phone
from omnichat.sites import Site
from omnichat.storage.db import Database, Row, Tx
from omnichat.twilio import media

log = logging.getLogger("omnichat.twilio")

Status = DeliveryStatus
# Twilio refuses a Body over 1600 characters (error 21617), and it splits a long SMS into
# concatenated segments itself. WhatsApp would carry 4096, but Twilio's API holds WhatsApp bodies
# to the same 1600, so both channels share the limit.
LIMITS = {"sms": 1600, "whatsapp": 1600}
CHANNEL_NAMES = {"sms": "an SMS", "whatsapp": "a WhatsApp message"}
# The worker listens here; a commit that adds rows publishes to it so sending starts at once.
WAKE_TOPIC = ("outbox", 0)

INSERT = """
INSERT INTO outbox (tenant_id, site_id, message_id, kind, channel, to_number, from_number, body,
                    status, next_attempt_at, queued_at, error_code, error_message, created_at,
                    updated_at, media)
VALUES (:tenant, :site, :message, :kind, :channel, :to, :from, :body, :status, :now, :now,
        :error_code, :error_message, :now, :now, :media)
"""
COLUMNS = """
id, tenant_id, site_id, message_id, kind, channel, to_number, from_number, body, status, attempts,
attempt_id, queued_at, media
"""


@dataclass(frozen=True)
class Entry:
    """One outbox row as the sender needs it."""

    id: int
    tenant_id: int
    site_id: int
    message_id: int | None
    kind: str
    channel: str
    to_number: str
    from_number: str | None
    body: str
    status: Status
    attempts: int
    attempt_id: str | None
    queued_at: str
    media: str | None = None  # JSON list of attachment ids, sent as MediaUrl

    @classmethod
    def from_row(cls, row: Row) -> Entry:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (sqlite3.Row)


def length(text: str) -> int:
    """Characters as Twilio counts them: UTF-16 code units, so an emoji counts twice."""
    return len(text.encode("utf-16-le")) // 2


def check_length(channel: str, text: str) -> None:
    """`Invalid` naming "text" when `text` is too long for `channel`."""
    limit = LIMITS[channel]
    size = length(text)
    if size > limit:
        raise Invalid(
            "text",
            f"is {size} characters long; {CHANNEL_NAMES[channel]} can carry at most {limit}"
            " (Twilio's limit): shorten it or send it in parts",
        )


def wake(tx: Tx) -> None:
    """Wake the sender once `tx` commits, so new rows go out at once."""
    tx.publish(WAKE_TOPIC, "")


async def _insert(
    tx: Tx,
    *,
    tenant_id: int,
    site_id: int,
    message_id: int | None,
    kind: str,
    channel: str,
    to_number: str,
    from_number: str | None,
    body: str,
    failure: tuple[str, str] | None = None,
    media: list[int] | None = None,
) -> Delivery:
    status: Status = "pending" if failure is None else "failed"
    await tx.execute(
        INSERT,
        {
            "tenant": tenant_id,
            "site": site_id,
            "message": message_id,
            "kind": kind,
            "channel": channel,
            "to": to_number,
            "from": from_number,
            "body": body,
            "status": status,
            "now": times.now_iso(),
            "error_code": None if failure is None else failure[0],
            "error_message": None if failure is None else failure[1],
            "media": orjson.dumps(media).decode() if media else None,
        },
    )
    if failure is None:
        wake(tx)
    else:
        log.warning(
            "outbound text cannot be sent",
            extra={"fields": {"reason": failure[0], "to": mask_phone(to_number), "kind": kind}},
        )
    return Delivery(status, *failure) if failure else Delivery(status)


async def enqueue_reply(
    tx: Tx, conversation: Conversation, message_id: int, sender: str, text: str
) -> Delivery:
    """Queue a public staff or system message of an SMS/WhatsApp conversation for sending.

    Called by `messages.insert` inside its transaction. The message's files go along as MMS
    media (over Twilio's limits: `Invalid`). An agent's text over the channel's limit is refused
    (`Invalid` rolls the message back); a system text that cannot go out (too long, no sending
    number, no contact phone) is stored as a failed delivery agents can see.
    """
    channel = conversation.channel
    if sender == "agent":
        check_length(channel, text)
    # The reply's files (claimed just before, in this transaction) go out as MediaUrl.
    files = await media.outgoing(tx, message_id, channel)
    contact = await tx.fetch_one(
        "SELECT phone, contact_channel FROM visitors WHERE id = :id",
        {"id": conversation.visitor_id},
    )
    to_number = "" if contact is None or contact["phone"] is None else contact["phone"]
    from_number = await sites.sending_number(tx, conversation.site_id, channel)
    failure = None
    if contact is None or contact["contact_channel"] != channel or not to_number:
        failure = ("no_recipient", "This conversation has no phone number to text.")
    elif from_number is None:
        failure = ("no_sending_number", f"The site has no {channel} number to send from.")
    elif length(text) > LIMITS[channel]:
        failure = ("too_long", f"The text is longer than {LIMITS[channel]} characters.")
    return await _insert(
        tx,
        tenant_id=conversation.tenant_id,
        site_id=conversation.site_id,
        message_id=message_id,
        kind="reply",
        channel=channel,
        to_number=to_number,
        from_number=from_number,
        body=text,
        failure=failure,
        media=files,
    )


async def enqueue_alert(tx: Tx, site: Site, text: str) -> int:
    """Queue an alert SMS to each of the site's alert numbers; returns how many were queued.

    For the escalation step, inside its transaction. Alerts leave from the site's SMS number; a
    site without one sends none (logged). Texts over the SMS limit are shortened, not refused:
    an alert that arrives cut is better than none.
    """
    from_number = await sites.sending_number(tx, site.id, "sms")
    numbers = [n for n in map(phones.normalise, site.settings.alert_numbers) if n is not None]
    if from_number is None:
        if numbers:
            log.warning(
                "alert SMS not sent: the site has no SMS number",
                extra={"fields": {"site": site.id}},
            )
        return 0
    if length(text) > LIMITS["sms"]:
        text = text[: LIMITS["sms"] // 2 - 1] + "…"
    for number in dict.fromkeys(numbers):
        await _insert(
            tx,
            tenant_id=site.tenant_id,
            site_id=site.id,
            message_id=None,
            kind="alert",
            channel="sms",
            to_number=number,
            from_number=from_number,
            body=text,
        )
    return len(dict.fromkeys(numbers))


async def due(db: Database, now: str, limit: int) -> list[Entry]:
    """Rows to send now, oldest first, at most one per destination: texts to one number keep
    their order, so a row waits while an older one to the same number is unsent."""
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= :now"
        " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel"
        " AND p.to_number = o.to_number AND p.id < o.id AND p.status IN ('pending', 'sending'))"
        " ORDER BY o.id LIMIT :limit",
        {"now": now, "limit": limit},
    )
    return [Entry.from_row(row) for row in rows]


async def next_due_at(db: Database) -> str | None:
    """When the earliest waiting row becomes due (None: nothing waits)."""
    value = await db.fetch_value("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")
    return None if value is None else str(value)


async def sent_since(db: Database, to_number: str, since: str) -> list[str]:
    """When texts to `to_number` were accepted since `since`, oldest first (the rate cap)."""
    rows = await db.fetch_all(
        "SELECT sent_at FROM outbox WHERE to_number = :to AND sent_at >= :since ORDER BY sent_at",
        {"to": to_number, "since": since},
    )
    return [row[0] for row in rows]


async def unsent_count(db: Database) -> int:
    value = await db.fetch_value(
        "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"
    )
    return int(value or 0)


channels.register("sms", enqueue_reply)
channels.register("whatsapp", enqueue_reply)
