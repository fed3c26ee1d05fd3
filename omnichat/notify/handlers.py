"""The two channels the sender hands rows to: email through SMTP, push through push services."""

from __future__ import annotations

import logging

import aiohttp
import orjson

from omnichat.egress import Egress, EgressRefused
from omnichat.notify import compose, mail, push, visitor_mail
from omnichat.notify.queue import Notification
from omnichat.notify.seal import Sealer
from omnichat.notify.sender import Outcome
from omnichat.settings import Settings
from omnichat.storage.db import Database

log = logging.getLogger("omnichat.notify")
LINK_KINDS = ("reset", "invite")
# The on-call alert mail (`omnichat.chat.alerts`); not imported from there, which would be a cycle.
ALERT_KIND = "alert"


class MailHandler:
    channel = "email"

    def __init__(self, settings: Settings, db: Database, sealer: Sealer) -> None:
        self.settings = settings
        self.db = db
        self.sealer = sealer

    async def start(self) -> None:
        absent = mail.missing(self.settings)
        if not mail.enabled(self.settings.email):
            log.info("email is off (email.smtp_host is empty)")
        elif absent:
            log.error("email is partly configured", extra={"fields": {"missing": absent}})

    async def stop(self) -> None:
        return None

    async def send(self, row: Notification) -> Outcome:
        if not mail.enabled(self.settings.email):
            return Outcome("off", "email is off")
        if mail.missing(self.settings):
            return Outcome("retry", "email settings are incomplete")
        if row.kind == visitor_mail.KIND:
            return await self._to_visitor(row)
        if row.kind == ALERT_KIND:
            return await self._alert(row)
        user = await self.db.fetch_one(
            "SELECT u.email, u.name, u.disabled, t.name AS tenant FROM users u"
            " JOIN tenants t ON t.id = u.tenant_id WHERE u.id = :id",
            {"id": row.user_id},
        )
        if user is None:
            return Outcome("failed", "the user is gone")
        base = self.settings.public_url
        if row.kind in LINK_KINDS:
            token = self.sealer.open(str(row.payload.get("sealed", "")))
            if token is None:
                return Outcome("failed", "the link was sealed under another secret key")
            written = compose.link_mail(row.kind, base, token, user["name"], user["tenant"])
        elif row.kind == "test":
            written = compose.test_mail(user["name"])
        else:
            if user["disabled"]:
                return Outcome("failed", "the user is disabled")
            found = await compose.about(self.db, row.kind, row.payload)
            if found is None:
                return Outcome("failed", "what it was about is gone")
            written = compose.event_mail(found, base)
        message = written.message(self.settings.email.from_address, user["email"], user["name"])
        try:
            await mail.send(self.settings.email, message)
        except mail.MailError as exc:
            return Outcome("failed" if exc.permanent else "retry", str(exc))
        return Outcome("sent")

    async def _alert(self, row: Notification) -> Outcome:
        """An on-call alert to a site's `alert_emails` address: the same words as the SMS."""
        conversation_id = row.payload.get("conversation_id")
        path = "/admin" if conversation_id is None else f"/admin/conversations/{conversation_id}"
        text = str(row.payload.get("text", ""))
        written = mail.Mail(
            subject="Omnichat alert: " + " ".join(text.split())[:120],
            lines=[text],
            link=("Open Omnichat", self.settings.public_url + path),
        )
        message = written.message(self.settings.email.from_address, str(row.payload["to"]))
        try:
            await mail.send(self.settings.email, message)
        except mail.MailError as exc:
            return Outcome("failed" if exc.permanent else "retry", str(exc))
        return Outcome("sent")

    async def _to_visitor(self, row: Notification) -> Outcome:
        conversation_id = int(row.payload["conversation_id"])
        written = await visitor_mail.compose(
            self.db,
            self.db.signer,
            self.settings.public_url,
            conversation_id,
            int(row.payload["visitor_id"]),
        )
        if written is None:
            # Unsubscribed, back in the chat, or nothing new: nothing owed.
            return Outcome("off", "nothing to mail the visitor")
        message = written.mail.message(self.settings.email.from_address, written.to, written.name)
        try:
            await mail.send(self.settings.email, message)
        except mail.MailError as exc:
            return Outcome("failed" if exc.permanent else "retry", str(exc))
        await visitor_mail.mailed(self.db, conversation_id, written.through)
        return Outcome("sent")


# Push services answer these when trying again later may work.
RETRY_STATUSES = frozenset({408, 425, 429})


class PushHandler:
    channel = "push"

    def __init__(self, settings: Settings, db: Database, guard: Egress) -> None:
        self.settings = settings
        self.db = db
        self.egress = guard
        self.keys: push.Keys | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.keys = await push.ensure_keys(self.db)
        self._session = self.egress.session(
            timeout=aiohttp.ClientTimeout(total=self.settings.notify.push_timeout_seconds),
            headers={"User-Agent": "Omnichat-Push/1"},
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def subject(self) -> str:
        """The VAPID `sub`: how a push service reaches the operator."""
        if self.settings.email.from_address:
            return f"mailto:{self.settings.email.from_address}"
        if self.settings.public_url.startswith("https://"):
            return self.settings.public_url
        return "mailto:postmaster@localhost"

    async def send(self, row: Notification) -> Outcome:
        assert self._session is not None and self.keys is not None, "start the handler first"
        if row.subscription_id is None:
            return Outcome("failed", "no subscription")
        subscription = await push.by_id(self.db, row.subscription_id)
        if subscription is None:
            return Outcome("gone", "the subscription was removed")
        found = await compose.about(self.db, row.kind, row.payload)
        if found is None:
            return Outcome("failed", "what it was about is gone")
        payload = orjson.dumps(
            {
                "title": found.title,
                "body": found.body,
                "url": found.path,
                "tag": found.tag,
                "event": row.kind,
            }
        )
        try:
            status = await push.deliver(
                self._session, self.egress, self.keys, subscription, payload, self.subject()
            )
        except EgressRefused as refused:
            return Outcome("failed", f"refused: {refused}")
        except TimeoutError:
            return Outcome("retry", "the push service timed out")
        except aiohttp.ClientError as exc:
            return Outcome("retry", f"could not connect ({type(exc).__name__})")
        if 200 <= status < 300:
            return Outcome("sent")
        if status in (404, 410):
            await push.drop(self.db, subscription.id)
            return Outcome("gone", f"the push service answered {status}; subscription dropped")
        if status in RETRY_STATUSES or status >= 500:
            return Outcome("retry", f"the push service answered {status}")
        return Outcome("failed", f"the push service answered {status}")
