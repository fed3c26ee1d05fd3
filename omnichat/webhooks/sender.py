"""The webhook sender: a task in the server's loop that drains the delivery queue.

It mirrors the SMS sender (`omnichat.twilio.sender`): claim due rows, POST each, record the
outcome, retry failures with exponential backoff and jitter until the retry window closes, and
count every outcome in /metrics. Each webhook has its own circuit breaker, so one receiver that
is down pauses only its own deliveries. Every POST goes through the egress guard's session
(no internal address unless allowed) with no redirects, and the URL is checked again first.

Signature: `Omnichat-Signature: t=UNIX,v1=HEX`, HEX being HMAC-SHA256 of `"{t}.{body}"` keyed
with the webhook's secret; `Omnichat-Delivery: ID` names the delivery for deduplication.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from omnichat import egress, retry, times
from omnichat.egress import Egress
from omnichat.metrics import Metrics
from omnichat.settings import WebhooksSettings
from omnichat.storage.db import Database
from omnichat.twilio.circuit import Circuit
from omnichat.webhooks import deliveries, endpoints
from omnichat.webhooks.deliveries import Delivery

log = logging.getLogger("omnichat.webhooks")

BATCH = 16
STOP_DEADLINE_SECONDS = 5.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Omnichat-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(settings: WebhooksSettings, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from the base, capped, with "equal
    jitter" so deliveries that failed together do not retry together."""
    return retry.backoff(settings.retry_base_seconds, settings.retry_max_seconds, attempts)


class Sender:
    def __init__(
        self, settings: WebhooksSettings, db: Database, metrics: Metrics, guard: Egress
    ) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        self.egress = guard
        self.circuits: dict[int, Circuit] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.recovery = retry.Recovery(
            db,
            deliveries.recover,
            retry.lease_seconds(settings.timeout_seconds),
            "webhook deliveries",
        )

    async def start(self) -> None:
        """Put back rows a stopped sender left mid-call, then start sending."""
        await self.recovery.at_start()
        self._session = self.egress.session(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            headers={"User-Agent": "Omnichat-Webhooks/1"},
        )
        self._task = asyncio.create_task(self._run(), name="omnichat-webhook-sender")

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
            self.db.hub, deliveries.WAKE_TOPIC, self._stopping, self._pass, self._idle, "webhook"
        )

    async def _idle(self, wakeup: Coroutine[Any, Any, object]) -> None:
        """Wait for a wake-up, the stop signal, or the next due row, whichever comes first."""
        timeout = retry.idle_seconds(await deliveries.next_due_at(self.db))
        await retry.sleep_until(wakeup, self._stopping, timeout)

    def _circuit(self, webhook_id: int) -> Circuit:
        circuit = self.circuits.get(webhook_id)
        if circuit is None:
            circuit = Circuit(self.settings.circuit_failures, self.settings.circuit_pause_seconds)
            self.circuits[webhook_id] = circuit
        return circuit

    async def _pass(self) -> bool:
        """Send what is due; True when something was tried (there may be more behind it)."""
        await self.recovery.when_due()
        self.metrics.webhook_waiting.set(await deliveries.waiting_count(self.db))
        paused = [wid for wid, circuit in self.circuits.items() if circuit.state == "open"]
        rows = await deliveries.due(self.db, times.now_iso(), BATCH, paused)
        chosen: list[Delivery] = []
        trials: set[int] = set()
        for row in rows:
            if self._circuit(row.webhook_id).state == "half_open":
                # Half-open: one trial decides whether the receiver is back.
                if row.webhook_id in trials:
                    continue
                trials.add(row.webhook_id)
            chosen.append(row)
        await asyncio.gather(*(self._send(row) for row in chosen))
        return bool(chosen)

    async def _send(self, row: Delivery) -> None:
        try:
            await self._attempt(row)
        except Exception:
            # A bug of ours must not leave the row `sending` until the next restart.
            log.exception("webhook delivery failed", extra={"fields": {"delivery": row.id}})
            await deliveries.retry_later(
                self.db, row.id, backoff(self.settings, row.attempts + 1), None, "internal error"
            )

    async def _attempt(self, row: Delivery) -> None:
        found = await endpoints.secret_of(self.db, row.webhook_id)
        if found is None:
            return  # deleted meanwhile, with its deliveries
        url, secret = found
        now = times.now()
        window_closes = times.parse(row.queued_at).timestamp() + self.settings.give_up_after_seconds
        if not await deliveries.claim(self.db, row):
            return
        fields: dict[str, Any] = {
            "delivery": row.id,
            "webhook": row.webhook_id,
            "event": row.event,
            "host": urlsplit(url).hostname,
            "attempt": row.attempts + 1,
        }
        if now.timestamp() > window_closes:
            await deliveries.failed(self.db, row.id, None, "Not delivered within the retry window.")
            self.metrics.webhook_deliveries.labels("expired").inc()
            log.warning("webhook delivery expired", extra={"fields": fields})
            return
        code, error = await self._post(url, secret, row)
        circuit = self._circuit(row.webhook_id)
        if error is None:
            circuit.succeeded()
            assert code is not None
            await deliveries.delivered(self.db, row.id, code)
            self.metrics.webhook_deliveries.labels("delivered").inc()
            log.info("webhook delivered", extra={"fields": {**fields, "status": code}})
            return
        circuit.failed()
        delay = backoff(self.settings, row.attempts + 1)
        if error.startswith("refused"):
            outcome = "refused"
            await deliveries.failed(self.db, row.id, code, error)
        elif time.time() + delay > window_closes:
            outcome = "failed"
            await deliveries.failed(self.db, row.id, code, f"{error}; gave up after 24 h")
        else:
            outcome = "retry"
            await deliveries.retry_later(self.db, row.id, delay, code, error)
        self.metrics.webhook_deliveries.labels(outcome).inc()
        log.warning(
            "webhook not delivered",
            extra={"fields": {**fields, "status": code, "error": error, "outcome": outcome}},
        )

    async def _post(self, url: str, secret: str, row: Delivery) -> tuple[int | None, str | None]:
        """One POST: (the answer's status, None when it was a 2xx, else what went wrong)."""
        assert self._session is not None, "start the sender first"
        try:
            self.egress.check_url(url)  # the allow-list may have shrunk since it was saved
        except egress.EgressRefused as refused:
            return None, f"refused: {refused}"
        body = row.body()
        headers = {
            "Content-Type": "application/json",
            "Omnichat-Event": row.event,
            "Omnichat-Delivery": str(row.id),
            "Omnichat-Signature": signature(secret, int(time.time()), body),
        }
        try:
            # No redirects: a 3xx must not carry a signed delivery somewhere else.
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            return None, f"timed out after {self.settings.timeout_seconds:g} s"
        except aiohttp.ClientError as exc:
            refusal = egress.refusal(exc)
            if refusal is not None:
                return None, f"refused: {refusal}"
            return None, f"could not connect ({type(exc).__name__})"
        if 200 <= status < 300:
            return status, None
        return status, f"answered HTTP {status}"
