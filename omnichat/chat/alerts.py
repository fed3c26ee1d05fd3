"""Alerts to a site's on-call contacts: a visitor escalated, or a follow-up left.

Each alert goes to the site's `alert_webhook_url` as a signed JSON `POST`, as an SMS to each
of its on-call numbers through the durable outbox and as a mail to each of its on-call addresses
through the notification queue (the contacts of the `on_call` windows covering now, one in
turn per window, else the flat `alert_numbers`/`alert_emails`: see `omnichat.chat.on_call`),
both queued in the step's own transaction (so it survives a restart and is sent once). The
webhook is sent after the commit, off the writer, with a timeout and a few retries; it is best
effort: a restart drops deliveries still being retried.
Bodies are never logged (they carry visitor details).

Alerts are throttled per site (`omnichat.chat.alert_windows`): at most one per
`alerts.min_interval_seconds`, what happens meanwhile told in one summary (event
`alerts.summary`) when the interval ends, so anonymous visitors cannot page anyone without limit.

Webhooks go only where the egress guard allows (`omnichat.egress`): never to an internal address,
whether the URL names one or its host resolves to one, unless the operator allows that host.

Signature: `X-Omnichat-Signature: sha256=<hex>` is HMAC-SHA256, keyed with the site's identity
secret, over `<X-Omnichat-Timestamp>.<raw body>`. The key is per site, so one tenant can never
forge another's alerts; a site without an identity secret gets no webhook (never an unsigned one).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from omnichat import egress, sites, times
from omnichat.chat import alert_windows, on_call
from omnichat.chat.conversations import Conversation
from omnichat.egress import Egress
from omnichat.metrics import Metrics
from omnichat.notify import queue as notify_queue
from omnichat.settings import AlertsSettings
from omnichat.sites import Site
from omnichat.storage.db import Database, Tx

log = logging.getLogger("omnichat.alerts")

ESCALATED = "conversation.escalated"
FOLLOWUP = "followup.created"
SUMMARY = "alerts.summary"
ALERT_MAIL = "alert"
TIMEOUT_SECONDS = 5.0
# Queues an alert text to each of the site's alert numbers inside the step's transaction (the
# SMS outbox's `enqueue_alert`; the app passes it in, so chat does not import Twilio).
TextAlert = Callable[[Tx, Site, str], Awaitable[int]]
ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 1.0  # then 2, 4
# In-flight deliveries get this long to finish at shutdown; the rest are dropped (and counted).
SHUTDOWN_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    site_id: int
    url: str
    body: bytes

    @property
    def host(self) -> str:
        # The URL itself may carry a token in its path or query: log the host only.
        return urlsplit(self.url).hostname or "?"


def summary(event: str, site: Site, conversation_id: int | None) -> str:
    """One line for a person on call (the webhook's `summary`, and the SMS text)."""
    where = f" (conversation {conversation_id})" if conversation_id is not None else ""
    if event == ESCALATED:
        return f"{site.name}: a visitor is waiting and no one has answered{where}."
    return f"{site.name}: a visitor left a follow-up request{where}."


async def _mail_alert(tx: Tx, site: Site, text: str, conversation_id: int | None) -> None:
    """Queue the alert to each of the site's `alert_emails` in the step's transaction (mailed
    by the notification sender; dropped there while email is off)."""
    for address in site.settings.alert_emails:
        await notify_queue.enqueue(
            tx,
            tenant_id=site.tenant_id,
            channel="email",
            kind=ALERT_MAIL,
            payload={"to": address, "text": text, "conversation_id": conversation_id},
        )


async def _on_call(tx: Tx, site: Site) -> Site:
    """The site as this alert sees it: `alert_numbers`/`alert_emails` replaced by the contacts
    of the on-call windows covering now (advancing their rotation in `tx`), when any does."""
    settings = site.settings
    if not settings.on_call:
        return site
    chosen = await on_call.contacts(
        tx, site.id, settings.on_call, settings.business_hours, times.now()
    )
    if chosen is None:
        return site
    numbers, emails = chosen
    return replace(site, settings=replace(settings, alert_numbers=numbers, alert_emails=emails))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class Alerts:
    """Sends alerts; the lifespan starts it (an HTTP client session) and closes it."""

    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        text_alert: TextAlert,
        guard: Egress | None = None,
        min_interval_seconds: float = AlertsSettings().min_interval_seconds,
    ) -> None:
        self._db = db
        self._text_alert = text_alert
        self._metrics = metrics
        self._interval = min_interval_seconds
        # Without the operator's allow-list, no internal destination at all.
        self.egress = guard or Egress()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._session = self.egress.session(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            headers={"User-Agent": "Omnichat-Alerts/1"},
        )

    async def close(self) -> None:
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def escalated(self, tx: Tx, site: Site, conversation: Conversation) -> None:
        """Alert on-call contacts that `conversation` escalated (call inside the step's `tx`)."""
        if not await self._claim(tx, site, "escalated"):
            return
        site = await _on_call(tx, site)
        text = summary(ESCALATED, site, conversation.id)
        await self._text_alert(tx, site, text)
        await _mail_alert(tx, site, text, conversation.id)
        self._webhook(tx, site, ESCALATED, text, {"conversation": conversation.to_json()})

    async def followup_created(
        self,
        tx: Tx,
        site: Site,
        followup: dict[str, Any],
        conversation: Conversation | None,
    ) -> None:
        """Alert on-call contacts of a new follow-up (call inside the `tx` that stores it)."""
        if not await self._claim(tx, site, "followups"):
            return
        site = await _on_call(tx, site)
        text = summary(FOLLOWUP, site, None if conversation is None else conversation.id)
        await self._text_alert(tx, site, text)
        await _mail_alert(tx, site, text, None)
        data = {
            "followup": followup,
            "conversation": None if conversation is None else conversation.to_json(),
        }
        self._webhook(tx, site, FOLLOWUP, text, data)

    async def send_summaries(self) -> None:
        """One pass of the job: each site whose interval ended with alerts held back gets one
        summary (SMS to each alert number, and a webhook)."""
        now = times.now()
        for site_id in await alert_windows.due(self._db, now):
            site = await sites.site_by_id(self._db, site_id)
            if site is not None:
                await self._db.write(functools.partial(self._summarise, site=site, now=now))

    async def _summarise(self, tx: Tx, site: Site, now: datetime) -> None:
        owed = await alert_windows.settle(tx, site.id, now)
        if owed is None:
            return  # another pass (or process) took it
        site = await _on_call(tx, site)
        text = alert_windows.summary_text(site.name, owed)
        await self._text_alert(tx, site, text)
        await _mail_alert(tx, site, text, None)
        counts = {"escalated": owed.escalated, "followups": owed.followups}
        self._webhook(tx, site, SUMMARY, text, {"counts": counts, "since": owed.since})

    async def _claim(self, tx: Tx, site: Site, kind: alert_windows.Kind) -> bool:
        settings = site.settings
        contacts = settings.alert_numbers or settings.alert_emails or settings.on_call
        if not (contacts or settings.alert_webhook_url):
            return False  # no one to alert: nothing to count either
        return await alert_windows.claim(tx, site.id, kind, times.now(), self._interval)

    def _webhook(self, tx: Tx, site: Site, event: str, text: str, data: dict[str, Any]) -> None:
        url = site.settings.alert_webhook_url
        if not url:
            return
        delivery_id = uuid.uuid4().hex
        body = {
            "id": delivery_id,
            "event": event,
            "created_at": times.now_iso(),
            "site": {"id": site.id, "name": site.name},
            "summary": text,
            "conversation": None,
            "followup": None,
            **data,
        }
        delivery = Delivery(delivery_id, event, site.id, url, orjson.dumps(body))
        tx.after_commit(lambda: self._spawn(delivery))

    def _spawn(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery) -> None:
        fields: dict[str, Any] = {"delivery": delivery.id, "event": delivery.event}
        fields["host"] = delivery.host
        try:
            self.egress.check_url(delivery.url)  # a URL saved before the guard existed
        except egress.EgressRefused as refused:
            self._refused(fields, refused)
            return
        secret = await sites.identity_secret(self._db, delivery.site_id)
        if not secret:
            log.error("webhook alert not sent: the site has no identity secret to sign it with")
            self._metrics.alert_deliveries.labels("webhook", "failed").inc()
            return
        for attempt in range(1, ATTEMPTS + 1):
            retry, outcome = await self._post(delivery, secret)
            if isinstance(outcome, egress.EgressRefused):
                self._refused(fields, outcome)
                return
            if outcome == "ok":
                log.info("webhook alert delivered", extra={"fields": {**fields, "try": attempt}})
                self._metrics.alert_deliveries.labels("webhook", "sent").inc()
                return
            log.warning(
                "webhook alert attempt failed",
                extra={"fields": {**fields, "try": attempt, "outcome": outcome}},
            )
            if not retry or attempt == ATTEMPTS:
                break
            await asyncio.sleep(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
        log.error("webhook alert given up", extra={"fields": fields})
        self._metrics.alert_deliveries.labels("webhook", "failed").inc()

    def _refused(self, fields: dict[str, Any], refused: egress.EgressRefused) -> None:
        # Nothing was sent, so nothing (not even whether a port is open) can be learnt from it.
        log.warning(
            "webhook alert refused: internal destination (see [egress] allow_hosts)",
            extra={"fields": {**fields, "reason": str(refused)}},
        )
        self._metrics.alert_deliveries.labels("webhook", "refused").inc()

    async def _post(
        self, delivery: Delivery, secret: str
    ) -> tuple[bool, str | egress.EgressRefused]:
        """One attempt: (whether to retry, "ok", what went wrong, or the guard's refusal)."""
        assert self._session is not None, "start the alerts first"
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Omnichat-Event": delivery.event,
            "X-Omnichat-Delivery": delivery.id,
            "X-Omnichat-Timestamp": timestamp,
            "X-Omnichat-Signature": signature(secret, timestamp, delivery.body),
        }
        try:
            # No redirects: a 3xx must not carry a signed alert somewhere else.
            async with self._session.post(
                delivery.url, data=delivery.body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            return True, "timeout"
        except aiohttp.ClientError as exc:
            refused = egress.refusal(exc)
            return (False, refused) if refused else (True, type(exc).__name__)
        if 200 <= status < 300:
            return False, "ok"
        # Server trouble and throttling may pass; other answers will not change on a retry.
        return status >= 500 or status in (408, 429), f"http {status}"
