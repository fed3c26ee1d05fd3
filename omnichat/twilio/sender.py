"""The sender: a task in the server's loop that drains the outbox through Twilio's API.

Each pass takes the due rows (at most one per destination, so texts to a number keep their
order), claims each under a fresh attempt id, calls Twilio and records the outcome. Provider
failures retry with exponential backoff and jitter; permanent refusals fail at once; a run of
failures opens the circuit and pauses all sending until a trial succeeds. A commit that adds
rows wakes the task through the hub; otherwise it looks again when the next row is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from omnichat import phones, retry, times
from omnichat.logs import mask_phone
from omnichat.metrics import Metrics
from omnichat.settings import SettingsError, TwilioSettings
from omnichat.storage.db import Database
from omnichat.twilio import api, delivery, media, outbox
from omnichat.twilio.circuit import Circuit
from omnichat.twilio.outbox import Entry

log = logging.getLogger("omnichat.twilio")

# Rows sent concurrently in one pass (each to a different number).
BATCH = 8
# The longest sleep between passes; a wake-up or a due row ends it sooner.
STOP_DEADLINE_SECONDS = 5.0
REQUIRED = ("account_sid", "auth_token", "public_base_url")


def missing(settings: TwilioSettings) -> list[str]:
    """The settings SMS and WhatsApp need that are not set (empty: the channel is on)."""
    return [f"twilio.{name}" for name in REQUIRED if not str(getattr(settings, name)).strip()]


def describe(settings: TwilioSettings) -> str:
    """One line for `check`: whether SMS/WhatsApp are on. A partial configuration, or a public
    URL Twilio could not call, is a `SettingsError` naming the keys."""
    absent = missing(settings)
    if len(absent) == len(REQUIRED):
        return "SMS and WhatsApp: off (set twilio.account_sid, auth_token and public_base_url)"
    if absent:
        raise SettingsError(
            f"twilio is partly configured: {', '.join(absent)} missing"
            " (set them, or clear the others to turn SMS and WhatsApp off)"
        )
    parts = urlsplit(settings.public_base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise SettingsError(
            "setting twilio.public_base_url: must be the http(s) URL Twilio calls, like"
            " https://chat.example.org"
        )
    webhook = settings.public_base_url.rstrip("/") + "/webhooks/twilio"
    return f"SMS and WhatsApp: on; point each Twilio number's messaging webhook at {webhook}"


def backoff(settings: TwilioSettings, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from the base, capped, with "equal
    jitter" (half fixed, half random) so rows that failed together do not retry together."""
    return retry.backoff(settings.retry_base_seconds, settings.retry_max_seconds, attempts)


class Sender:
    def __init__(self, settings: TwilioSettings, db: Database, metrics: Metrics) -> None:
        self.settings = settings
        self.db = db
        self.hub = db.hub
        self.metrics = metrics
        self.circuit = Circuit(settings.circuit_failures, settings.circuit_pause_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # A claim lasts the API call's timeout (and the margin) before another process may
        # take the row back; the grace period then still waits for Twilio's callback.
        grace = settings.unknown_outcome_grace_seconds
        self.recovery = retry.Recovery(
            db,
            lambda db, before: delivery.recover(db, before, grace),
            retry.lease_seconds(settings.request_timeout_seconds),
            "outbound texts",
        )

    async def start(self) -> None:
        """Settle rows a stopped sender left mid-call, then start sending (if configured)."""
        absent = missing(self.settings)
        if absent:
            # All three unset is a deliberate "off"; only some of them is a mistake.
            level = logging.INFO if len(absent) == len(REQUIRED) else logging.ERROR
            log.log(level, "SMS and WhatsApp are off", extra={"fields": {"missing": absent}})
            return
        await self.recovery.at_start()
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="omnichat-twilio-sender")

    async def stop(self) -> None:
        """Let calls in flight finish (up to a deadline), then close the HTTP session."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_DEADLINE_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        await retry.run_passes(
            self.hub, outbox.WAKE_TOPIC, self._stopping, self._pass, self._idle, "outbox"
        )

    async def _idle(self, wakeup: Coroutine[Any, Any, object]) -> None:
        """Wait for a wake-up, the stop signal, or the next due row, whichever comes first."""
        if self.circuit.state == "open":
            timeout = max(0.01, min(retry.IDLE_SECONDS, self.circuit.seconds_until_trial()))
        else:
            timeout = retry.idle_seconds(await outbox.next_due_at(self.db))
        await retry.sleep_until(wakeup, self._stopping, timeout)

    async def _pass(self) -> bool:
        """Send what is due; True when something was sent (there may be more behind it)."""
        await self.recovery.when_due()
        self._show_circuit()
        self.metrics.outbox_unsent.set(await outbox.unsent_count(self.db))
        state = self.circuit.state
        if state == "open":
            return False
        # Half-open: a single trial call decides whether the provider is back.
        rows = await outbox.due(self.db, times.now_iso(), 1 if state == "half_open" else BATCH)
        if not rows:
            return False
        await asyncio.gather(*(self._send(row) for row in rows))
        return True

    async def _send(self, row: Entry) -> None:
        now = times.now()
        if (
            times.parse(row.queued_at) + timedelta(seconds=self.settings.give_up_after_seconds)
            < now
        ):
            await delivery.failed(
                self.db, row.id, None, "expired", "Not sent in time; retry it by hand."
            )
            self.metrics.outbox_sends.labels("expired").inc()
            return
        if await self._over_cap(row, now):
            return
        attempt = uuid.uuid4().hex
        if not await delivery.claim(self.db, row, attempt):
            return
        assert self._session is not None and row.from_number is not None
        callback = (
            f"{self.settings.public_base_url.rstrip('/')}/webhooks/twilio/status"
            f"?outbox={row.id}&attempt={attempt}"
        )
        try:
            outcome = await api.send(
                self._session,
                self.settings,
                phones.address(row.channel, row.to_number),
                phones.address(row.channel, row.from_number),
                row.body,
                callback,
                media.public_links(self.settings, self.db.signer, row.media),
            )
        except Exception:
            # A bug of ours must not leave the row `sending` until the next restart.
            log.exception("sending a text failed", extra={"fields": {"outbox_id": row.id}})
            outcome = api.Outcome("unknown", error_code="internal_error", error_message="Error.")
        fields = {
            "outbox_id": row.id,
            "to": mask_phone(row.to_number),
            "attempt": row.attempts + 1,
            "outcome": outcome.kind,
            "error_code": outcome.error_code,
        }
        self.metrics.outbox_sends.labels(outcome.kind).inc()
        if outcome.kind == "accepted":
            self.circuit.succeeded()
            status = delivery.PROVIDER_STATUS.get(outcome.status or "", "queued")
            await delivery.accepted(self.db, row.id, attempt, outcome.sid, status)
            log.info("text accepted by Twilio", extra={"fields": fields})
            return
        code = outcome.error_code or "error"
        message = outcome.error_message or "Twilio did not take the text."
        if outcome.kind == "permanent":
            # Twilio works; it refused this one text. The circuit is not the provider's fault.
            self.circuit.succeeded()
            await delivery.failed(self.db, row.id, attempt, code, message)
            log.warning("text refused by Twilio", extra={"fields": fields})
            return
        self.circuit.failed()
        delay = backoff(self.settings, row.attempts + 1)
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        if outcome.kind == "unknown":
            delay = max(delay, self.settings.unknown_outcome_grace_seconds)
        await delivery.retry_later(self.db, row.id, attempt, delay, code, message)
        log.warning("text not sent; will retry", extra={"fields": {**fields, "delay": delay}})

    async def _over_cap(self, row: Entry, now: datetime) -> bool:
        """Hold a row whose number already got its share of texts this minute."""
        cap = self.settings.per_number_per_minute
        if not cap:
            return False
        recent = await outbox.sent_since(
            self.db, row.to_number, times.iso(now - timedelta(minutes=1))
        )
        if len(recent) < cap:
            return False
        until = times.parse(recent[-cap]) + timedelta(minutes=1)
        await delivery.defer(self.db, row.id, times.iso(until))
        self.metrics.outbox_sends.labels("deferred").inc()
        log.info(
            "text held by the per-number cap",
            extra={"fields": {"outbox_id": row.id, "to": mask_phone(row.to_number)}},
        )
        return True

    def _show_circuit(self) -> None:
        state = self.circuit.state
        for name in ("closed", "open", "half_open"):
            self.metrics.twilio_circuit.labels(name).set(1 if name == state else 0)
