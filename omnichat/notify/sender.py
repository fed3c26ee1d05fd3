"""The notification sender: one task that drains the queue through a handler per channel.

It mirrors the SMS and webhook senders: claim due rows, hand each to its channel's handler,
record the outcome, retry failures with exponential backoff and jitter until the retry window
closes, and count every outcome in /metrics. Each channel has its own circuit breaker, so an
SMTP outage pauses mail but not push. A commit that queues rows wakes the task at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from omnichat import retry, times
from omnichat.metrics import Metrics
from omnichat.notify import queue
from omnichat.notify.queue import Notification
from omnichat.settings import NotifySettings, Settings
from omnichat.storage.db import Database
from omnichat.twilio.circuit import Circuit

log = logging.getLogger("omnichat.notify")

BATCH = 16
STOP_DEADLINE_SECONDS = 5.0
CIRCUIT_FAILURES = 5
CIRCUIT_PAUSE_SECONDS = 30.0
# An SMTP send is several commands (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA), each
# under `email.timeout_seconds`.
SMTP_COMMANDS = 8


@dataclass(frozen=True)
class Outcome:
    """sent; retry (may work later); failed (never will); gone (a dropped subscription);
    off (the channel is not configured)."""

    kind: Literal["sent", "retry", "failed", "gone", "off"]
    error: str | None = None
    retry_after: float | None = None


class Handler(Protocol):
    channel: str
    settings: Settings  # its timeouts bound how long a send can take (the recovery's lease)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, row: Notification) -> Outcome: ...


class Sender:
    def __init__(
        self,
        settings: NotifySettings,
        db: Database,
        metrics: Metrics,
        handlers: list[Handler],
    ) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        self.handlers = {handler.channel: handler for handler in handlers}
        self.circuits = {
            channel: Circuit(CIRCUIT_FAILURES, CIRCUIT_PAUSE_SECONDS) for channel in self.handlers
        }
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        longest = settings.push_timeout_seconds
        for handler in handlers:
            longest = max(
                longest,
                handler.settings.notify.push_timeout_seconds,
                SMTP_COMMANDS * handler.settings.email.timeout_seconds,
            )
        self.recovery = retry.Recovery(
            db, queue.recover, retry.lease_seconds(longest), "notifications"
        )

    async def start(self) -> None:
        await self.recovery.at_start()
        for handler in self.handlers.values():
            await handler.start()
        self._task = asyncio.create_task(self._run(), name="omnichat-notify-sender")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_DEADLINE_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        for handler in self.handlers.values():
            await handler.stop()

    async def _run(self) -> None:
        await retry.run_passes(
            self.db.hub, queue.WAKE_TOPIC, self._stopping, self._pass, self._idle, "notification"
        )

    async def _idle(self, wakeup: Coroutine[Any, Any, object]) -> None:
        """Wait for a wake-up, the stop signal, or the next due row, whichever comes first."""
        timeout = retry.idle_seconds(await queue.next_due_at(self.db))
        await retry.sleep_until(wakeup, self._stopping, timeout)

    async def _pass(self) -> bool:
        """Send what is due; True when something was tried (there may be more behind it)."""
        await self.recovery.when_due()
        for channel, count in (await queue.waiting(self.db)).items():
            self.metrics.notify_waiting.labels(channel).set(count)
        paused = tuple(ch for ch, circuit in self.circuits.items() if circuit.state == "open")
        rows = await queue.due(self.db, times.now_iso(), BATCH, paused)
        chosen: list[Notification] = []
        trials: set[str] = set()
        for row in rows:
            if self.circuits[row.channel].state == "half_open":
                # Half-open: one trial decides whether the service is back.
                if row.channel in trials:
                    continue
                trials.add(row.channel)
            chosen.append(row)
        await asyncio.gather(*(self._send(row) for row in chosen))
        return bool(chosen)

    async def _send(self, row: Notification) -> None:
        try:
            await self._attempt(row)
        except Exception:
            # A bug of ours must not leave the row `sending` until the next restart.
            log.exception("notification failed", extra={"fields": {"notification": row.id}})
            await queue.retry_later(self.db, row.id, self._delay(row), "internal error")

    def _delay(self, row: Notification) -> float:
        base, cap = self.settings.retry_base_seconds, self.settings.retry_max_seconds
        return retry.backoff(base, cap, row.attempts + 1)

    async def _attempt(self, row: Notification) -> None:
        if not await queue.claim(self.db, row):
            return
        fields: dict[str, Any] = {
            "notification": row.id,
            "channel": row.channel,
            "kind": row.kind,
            "attempt": row.attempts + 1,
        }
        window_closes = (
            times.parse(row.created_at).timestamp() + self.settings.give_up_after_seconds
        )
        if time.time() > window_closes:
            await queue.failed(self.db, row.id, "Not sent within the retry window.")
            self._count(row, "expired", fields)
            return
        outcome = await self.handlers[row.channel].send(row)
        circuit = self.circuits[row.channel]
        if outcome.kind == "sent":
            circuit.succeeded()
            await queue.sent(self.db, row.id)
        elif outcome.kind == "retry":
            circuit.failed()
            delay = max(self._delay(row), outcome.retry_after or 0.0)
            if time.time() + delay > window_closes:
                await queue.failed(self.db, row.id, f"{outcome.error}; gave up")
                self._count(row, "failed", {**fields, "error": outcome.error})
                return
            await queue.retry_later(self.db, row.id, delay, outcome.error or "error")
            fields["delay"] = round(delay, 2)
        elif outcome.kind == "off":
            # Events queue mail by each user's choice; with email off there is nothing to send.
            await queue.discard(self.db, row.id)
        elif outcome.kind == "gone":
            circuit.succeeded()
            # The handler dropped the subscription and the rows waiting for it.
            await queue.failed(self.db, row.id, outcome.error or "subscription gone")
        else:
            await queue.failed(self.db, row.id, outcome.error or "not sent")
        self._count(row, outcome.kind, {**fields, "error": outcome.error})

    def _count(self, row: Notification, outcome: str, fields: dict[str, Any]) -> None:
        self.metrics.notify_sends.labels(row.channel, outcome).inc()
        level = logging.INFO if outcome in ("sent", "off") else logging.WARNING
        log.log(level, f"notification {outcome}", extra={"fields": fields})
