"""Staff replies mailed to a web visitor who left.

When staff post a public reply in a web conversation and the visitor has an email address (from
`identify`, the pre-chat form or a follow-up), has not unsubscribed and has no socket open, the
reply is batched: the first such reply queues one `visitor_reply` mail, first tried
`[email] visitor_batch_seconds` later, and later replies wait for it. When it is sent, it carries
every public staff reply not mailed yet (never private notes nor system messages), a link that
reopens the chat and a signed unsubscribe link. `visitor_mail_batches` remembers, per
conversation, the pending mail and the last seq mailed, so a reply is mailed once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import quote

from omnichat import sites
from omnichat.notify import queue
from omnichat.notify.mail import Mail
from omnichat.signing import Signer
from omnichat.storage.db import Database, Tx

log = logging.getLogger("omnichat.notify")

KIND = "visitor_reply"
# Where the app puts `[email] visitor_batch_seconds` in `Database.cache` (writes read it there).
BATCH_KEY = "visitor_mail.batch_seconds"
DEFAULT_BATCH_SECONDS = 300.0
UNSUBSCRIBE = "visitor-unsubscribe"
UNSUBSCRIBE_TTL_SECONDS = 365 * 86400
MAX_REPLIES = 50


async def reply_stored(tx: Tx, tenant_id: int, conversation_id: int, visitor_id: int) -> None:
    """Call in the transaction of a public staff reply in a web conversation."""
    try:
        visitor = await tx.fetch_one(
            "SELECT v.mail_unsubscribed, COALESCE(v.email, (SELECT f.email FROM followups f"
            " WHERE f.visitor_id = v.id AND f.email IS NOT NULL AND f.email != ''"
            " ORDER BY f.id DESC LIMIT 1)) AS email FROM visitors v WHERE v.id = :id",
            {"id": visitor_id},
        )
        if visitor is None or not visitor["email"] or visitor["mail_unsubscribed"]:
            return
        if tx.listening(("visitor", visitor_id)):
            return  # they are reading the chat
        batch = await tx.fetch_one(
            "SELECT b.notification_id, n.status FROM visitor_mail_batches b LEFT JOIN"
            " notifications n ON n.id = b.notification_id WHERE b.conversation_id = :c",
            {"c": conversation_id},
        )
        if batch is not None and batch["status"] in ("queued", "retrying"):
            return  # the pending mail will carry this reply too
        delay = float(tx.cache.get(BATCH_KEY, DEFAULT_BATCH_SECONDS))
        notification_id = await queue.enqueue(
            tx,
            tenant_id=tenant_id,
            channel="email",
            kind=KIND,
            payload={"conversation_id": conversation_id, "visitor_id": visitor_id},
            delay_seconds=delay,
        )
        await tx.execute(
            "INSERT INTO visitor_mail_batches (conversation_id, notification_id)"
            " VALUES (:c, :n) ON CONFLICT (conversation_id) DO UPDATE SET notification_id = :n",
            {"c": conversation_id, "n": notification_id},
        )
    except Exception:
        # The reply must never fail because its mail could not be queued.
        log.exception("queueing a reply mail to the visitor failed")


def unsubscribe_query(signer: Signer, visitor_id: int, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + UNSUBSCRIBE_TTL_SECONDS)
    signature = signer.signature(UNSUBSCRIBE, str(visitor_id), expires)
    return f"v={visitor_id}&e={expires}&s={quote(signature)}"


def check_unsubscribe(signer: Signer, visitor: str, expires: str, signature: str) -> int | None:
    """The visitor id a signed unsubscribe link names, or None when tampered or expired."""
    if not visitor.isdigit() or not expires.isdigit() or len(visitor) > 18 or len(expires) > 12:
        return None
    if int(expires) < time.time() or not signer.check(
        UNSUBSCRIBE, visitor, int(expires), signature
    ):
        return None
    return int(visitor)


async def unsubscribe(db: Database, visitor_id: int) -> None:
    """Stop reply mails to the visitor at once, including those already queued."""

    async def op(tx: Tx) -> None:
        await tx.execute(
            "UPDATE visitors SET mail_unsubscribed = 1 WHERE id = :id", {"id": visitor_id}
        )

    await db.write(op)


@dataclass(frozen=True)
class Written:
    to: str
    name: str
    mail: Mail
    through: int  # the last seq the mail carries


async def compose(
    db: Database, signer: Signer, base: str, conversation_id: int, visitor_id: int
) -> Written | None:
    """The mail owed now, or None when there is nothing to send (unsubscribed, no address,
    nothing new, or the visitor came back and has the chat open)."""
    visitor = await db.fetch_one(
        "SELECT v.name, v.mail_unsubscribed, v.site_id, COALESCE(v.email, (SELECT f.email FROM"
        " followups f WHERE f.visitor_id = v.id AND f.email IS NOT NULL AND f.email != ''"
        " ORDER BY f.id DESC LIMIT 1)) AS email FROM visitors v WHERE v.id = :id",
        {"id": visitor_id},
    )
    if visitor is None or not visitor["email"] or visitor["mail_unsubscribed"]:
        return None
    if db.hub.listening(("visitor", visitor_id)):
        return None
    replies = await db.fetch_all(
        "SELECT m.seq, m.text, u.name AS author FROM messages m LEFT JOIN users u"
        " ON u.id = m.author_id WHERE m.conversation_id = :c AND m.sender = 'agent'"
        " AND m.private = 0 AND m.seq > COALESCE((SELECT mailed_through FROM"
        " visitor_mail_batches WHERE conversation_id = :c), 0) ORDER BY m.seq LIMIT :limit",
        {"c": conversation_id, "limit": MAX_REPLIES},
    )
    if not replies:
        return None
    site = await sites.site_by_id(db, visitor["site_id"])
    site_name = site.name if site is not None else "our website"
    lines = [f"Hello {visitor['name']}," if visitor["name"] else "Hello,"]
    lines.append(f"You have a reply to your chat on {site_name}:")
    for reply in replies:
        lines.append(f"{reply['author'] or 'Staff'}: {reply['text']}")
    return Written(
        to=visitor["email"],
        name=visitor["name"] or "",
        mail=Mail(
            subject=f"New reply from {site_name}",
            lines=lines,
            link=("Continue the chat", reopen_url(site, base)),
            unsubscribe=f"{base}/mail/unsubscribe?{unsubscribe_query(signer, visitor_id)}",
        ),
        through=int(replies[-1]["seq"]),
    )


def reopen_url(site: sites.Site | None, base: str) -> str:
    """The site's own page (first allowed origin) with the widget opening, else our hosted
    chat page."""
    if site is None:
        return base + "/"
    if site.allowed_origins and site.allowed_origins[0] != "*":
        return site.allowed_origins[0] + "/#omnichat-open"
    return f"{base}/chat/{quote(site.site_key)}"


async def mailed(db: Database, conversation_id: int, through: int) -> None:
    async def op(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO visitor_mail_batches (conversation_id, mailed_through) VALUES (:c, :t)"
            " ON CONFLICT (conversation_id) DO UPDATE SET mailed_through = CASE"
            " WHEN visitor_mail_batches.mailed_through > excluded.mailed_through"
            " THEN visitor_mail_batches.mailed_through ELSE excluded.mailed_through END",
            {"c": conversation_id, "t": through},
        )

    await db.write(op)
