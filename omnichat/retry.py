"""What every durable queue's sender shares (SMS outbox, webhooks, notifications): retry timing,
the loop that runs passes over due rows, sleeping between them until woken, and the recovery of
rows whose sender stopped mid-send.

A sender claims a row (`sending`, stamped with the claim's time) before it calls out, and
settles it after. A row left `sending` by a sender that died is taken back by `Recovery`:

- on SQLite the one process owns every claim, so at start-up every row left `sending` is
  interrupted, as before;
- on PostgreSQL other processes are sending right now, so only a claim older than the lease
  (`lease_seconds`: longer than any send can take) is taken back, at start-up and then every
  `RECOVER_EVERY_SECONDS`, since a process on another machine that died never restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from omnichat import times
from omnichat.protocol.hub import Closed, Hub, Topic
from omnichat.storage.db import Database, Tx

log = logging.getLogger("omnichat.retry")
IDLE_SECONDS = 1.0
Idle = Callable[[Coroutine[Any, Any, object]], Awaitable[None]]
# Added to the longest a send can take before its claim counts as abandoned: the writes around
# the call, a busy event loop, and clocks of different machines that disagree a little.
LEASE_MARGIN_SECONDS = 60.0
RECOVER_EVERY_SECONDS = 30.0
# Takes back the rows claimed before the given time; returns how many.
Recover = Callable[[Database, str], Awaitable[int]]


def lease_seconds(longest_send_seconds: float) -> float:
    """How long a claim holds a row before another process may take it back (PostgreSQL)."""
    return longest_send_seconds + LEASE_MARGIN_SECONDS


class Recovery:
    """Takes back a queue's rows whose sender stopped mid-send (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        recover: Recover,
        lease: float,
        what: str,
        every: float = RECOVER_EVERY_SECONDS,
    ) -> None:
        self.db = db
        self.lease = lease
        self.every = every
        self._recover = recover
        self._what = what
        self._next_at = 0.0

    def claimed_before(self) -> str:
        """Rows claimed before this time are abandoned: on SQLite every claim (this process,
        starting, has made none yet), on PostgreSQL claims older than the lease."""
        if self.db.dialect == "sqlite":
            return times.now_iso()
        return times.iso(times.now() - timedelta(seconds=self.lease))

    async def at_start(self) -> None:
        await self._run()
        self._next_at = time.monotonic() + self.every

    async def when_due(self) -> None:
        """Call in each pass: on PostgreSQL, recovers again every `every` seconds."""
        if self.db.dialect == "sqlite" or time.monotonic() < self._next_at:
            return
        self._next_at = time.monotonic() + self.every
        await self._run()

    async def _run(self) -> None:
        recovered = await self._recover(self.db, self.claimed_before())
        if recovered:
            log.warning(
                f"{self._what} were interrupted mid-send; they go back to the queue",
                extra={"fields": {"count": recovered}},
            )


# The notification and webhook queues share one row life: queued or retrying, claimed `sending`,
# then settled. `table` is the owning module's table name, a constant.


async def claim_row(db: Database, table: str, row_id: int, attempts: int) -> bool:
    """Mark a waiting row `sending`, counting the attempt; False if it moved meanwhile.

    One conditional UPDATE by id whose condition is the state the pass read (waiting, the same
    attempt count, due): atomic on PostgreSQL too, so of two processes that read the same row
    one sends it, and a pass that read it before another process's failed try put it back for
    later cannot try it early. One row each rather than a batch `FOR UPDATE SKIP LOCKED`: the
    pass picks rows per circuit first, and a lost claim costs one statement.
    """

    async def op(tx: Tx) -> bool:
        changed = await tx.execute(
            f"UPDATE {table} SET status = 'sending', attempts = attempts + 1,"
            " updated_at = :now WHERE id = :id AND status IN ('queued', 'retrying')"
            " AND attempts = :attempts AND next_attempt_at <= :now",
            {"id": row_id, "now": times.now_iso(), "attempts": attempts},
        )
        return changed == 1

    return await db.write(op)


async def settle_row(
    db: Database, table: str, row_id: int, sets: str, params: dict[str, Any]
) -> None:
    """Apply `sets` to a row still `sending` (the outcome of its claim)."""

    async def op(tx: Tx) -> None:
        await tx.execute(
            f"UPDATE {table} SET {sets}, updated_at = :now WHERE id = :id AND status = 'sending'",
            {**params, "id": row_id, "now": times.now_iso()},
        )

    await db.write(op)


async def recover_rows(db: Database, table: str, claimed_before: str, why: str) -> int:
    """Rows left `sending` by a sender that stopped (claimed before `claimed_before`, see
    `Recovery`) are tried again at once, with `why` as their last error."""

    async def op(tx: Tx) -> int:
        return await tx.execute(
            f"UPDATE {table} SET status = 'retrying', next_attempt_at = :now,"
            " last_error = :why, updated_at = :now"
            " WHERE status = 'sending' AND updated_at < :before",
            {"now": times.now_iso(), "before": claimed_before, "why": why},
        )

    return await db.write(op)


def backoff(base: float, cap: float, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base`, capped at `cap`, with "equal
    jitter" (half fixed, half random) so rows that failed together do not retry together."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return float(delay / 2 + random.uniform(0, delay / 2))


async def run_passes(
    hub: Hub,
    topic: Topic,
    stopping: asyncio.Event,
    one_pass: Callable[[], Awaitable[bool]],
    idle: Idle,
    what: str,
) -> None:
    """Run `one_pass` until `stopping`: again at once while it finds work, else after `idle`
    (a wake-up published on `topic` when a row is queued, or the next due time)."""
    while not stopping.is_set():
        try:
            async with hub.join(topic, limit=10_000) as wakeups:
                while not stopping.is_set():
                    busy = await one_pass()
                    if not busy:
                        await idle(wakeups.next())
                    while wakeups.pending:
                        await wakeups.next()
        except Closed:
            continue  # too many wake-ups queued while we worked: listen afresh
        except Exception:
            log.exception("%s pass failed", what)
            await idle(asyncio.sleep(IDLE_SECONDS))


def idle_seconds(due: str | None) -> float:
    """How long a sender may sleep: until the next due row (`due`, a stored time), at most
    `IDLE_SECONDS`, so a wake-up lost or a row added by another process waits no longer."""
    if due is None:
        return IDLE_SECONDS
    return max(0.01, min(IDLE_SECONDS, (times.parse(due) - times.now()).total_seconds()))


async def sleep_until(
    wakeup: Coroutine[Any, Any, object], stopping: asyncio.Event, seconds: float
) -> None:
    """Wait for `wakeup`, `stopping` or `seconds`, whichever comes first."""
    waiters = [asyncio.ensure_future(wakeup), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError, Closed):
                await waiter
