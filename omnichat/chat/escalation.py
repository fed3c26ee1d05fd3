"""Escalation: what happens, and when, to a visitor left waiting without an answer.

The clock is `conversations.waiting_since`: the oldest visitor message still without a public
agent reply. For each clock, after the site's `patience_seconds` the visitor is told we are still
looking, and after `escalate_seconds` the conversation is escalated: the visitor is told no one
is free and offered the follow-up form, and on-call contacts are alerted. 0 turns a step off.
Outside business hours a conversation opening gets the away text and the form at once instead.
Conversations with no activity for the site's `auto_close_minutes` are closed.

State lives in the conversation row (migration 0005): `clock_steps` says which steps are done for
the running clock and `next_step_at` when to look again; a trigger resets both whenever the clock
starts or stops. The job (`tick`, every second) reads due rows from one partial index and runs
each conversation's steps in its own writer operation, which re-reads the clock inside the
transaction: an agent reply committed first leaves nothing to do, and a step is never done twice
for a clock, however often the job runs or restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from omnichat import sites, times
from omnichat.chat import conversations, messages
from omnichat.chat.alerts import Alerts
from omnichat.metrics import Metrics
from omnichat.notify import events as notify_events
from omnichat.sites import Site, SiteSettings
from omnichat.storage.db import Database, Tx

log = logging.getLogger("omnichat.escalation")

# Due conversations handled per pass; more wait for the next pass, a second later.
BATCH = 1000
AUTO_CLOSED_TEXT = (
    "This conversation was closed because it was quiet for a while. "
    "Send a message any time to start again."
)
DUE = """
SELECT id, site_id, next_step_at FROM conversations
WHERE next_step_at <= :now ORDER BY next_step_at LIMIT :limit
"""
POSTPONE = "UPDATE conversations SET next_step_at = :next WHERE id = :id"
RETRY_FAILED = timedelta(minutes=1)
SAVE = "UPDATE conversations SET clock_steps = :steps, next_step_at = :next WHERE id = :id"


class Step(enum.IntFlag):
    PATIENCE = 1
    ESCALATE = 2


ALL_STEPS = Step.PATIENCE | Step.ESCALATE


@dataclass(frozen=True)
class Plan:
    """What to do for one clock at `now`: steps due (in order), all done after, next look."""

    due: tuple[tuple[Step, datetime], ...]
    done: Step
    next_at: datetime | None


def plan(settings: SiteSettings, clock: datetime, done: Step, now: datetime) -> Plan:
    """The step rules, with no I/O.

    A step switched off (0 seconds) counts as done for this clock. Patience set no earlier than
    escalation is skipped: being told we are still looking after being told no one is free makes
    no sense. Steps that both came due while the server was down run now, in order, once each.
    """
    timings = [
        (Step.PATIENCE, settings.patience_seconds),
        (Step.ESCALATE, settings.escalate_seconds),
    ]
    if 0 < settings.escalate_seconds <= settings.patience_seconds:
        done |= Step.PATIENCE
    due: list[tuple[Step, datetime]] = []
    next_at: datetime | None = None
    for step, seconds in timings:
        if step in done:
            continue
        if seconds <= 0:
            done |= step
            continue
        at = clock + timedelta(seconds=seconds)
        if at <= now:
            due.append((step, at))
            done |= step
        elif next_at is None or at < next_at:
            next_at = at
    return Plan(tuple(due), done, next_at)


@dataclass(frozen=True)
class Fired:
    step: Step
    due_at: datetime


async def advance(
    tx: Tx, alerts: Alerts, site: Site, conversation_id: int, now: datetime
) -> list[Fired]:
    """Run the steps of one conversation that are due at `now`, inside the writer's `tx`."""
    row = await tx.fetch_one(
        "SELECT status, waiting_since, clock_steps FROM conversations WHERE id = :id"
        + tx.for_update,
        {"id": conversation_id},
    )
    if row is None:
        return []
    if row["waiting_since"] is None or row["status"] == "closed":
        # Answered or closed since it was planned: nothing is pending for this clock.
        await tx.execute(SAVE, {"steps": row["clock_steps"], "next": None, "id": conversation_id})
        return []
    settings = site.settings
    steps = plan(settings, times.parse(row["waiting_since"]), Step(row["clock_steps"]), now)
    for step, _ in steps.due:
        if step is Step.PATIENCE:
            await messages.insert(tx, conversation_id, "system", settings.patience_text)
        else:
            await messages.insert(tx, conversation_id, "system", settings.escalate_text)
            escalated = await conversations.set_status(
                tx, conversation_id, "escalated", only_from=("open",)
            )
            await alerts.escalated(
                tx, site, escalated or await conversations.load(tx, conversation_id)
            )
            if escalated is not None:
                await notify_events.conversation_escalated(tx, escalated)
    await tx.execute(
        SAVE,
        {
            "steps": int(steps.done),
            "next": None if steps.next_at is None else times.iso(steps.next_at),
            "id": conversation_id,
        },
    )
    return [Fired(step, at) for step, at in steps.due]


async def tick(db: Database, alerts: Alerts, metrics: Metrics, now: datetime | None = None) -> None:
    """One pass of the job: run every step that is due now (cheap when none is: one query)."""
    now = now or times.now()
    rows = await db.fetch_all(DUE, {"now": times.iso(now), "limit": BATCH})
    if not rows:
        return
    found = {
        site_id: await sites.site_by_id(db, site_id) for site_id in {r["site_id"] for r in rows}
    }

    async def run(conversation_id: int, site: Site) -> None:
        try:
            fired = await db.write(lambda tx: advance(tx, alerts, site, conversation_id, now))
        except Exception:
            log.exception(
                "escalation step failed", extra={"fields": {"conversation": conversation_id}}
            )
            # Look again later rather than every second: one broken row must not flood the log.
            later = {"next": times.iso(now + RETRY_FAILED), "id": conversation_id}
            with contextlib.suppress(Exception):
                await db.write(lambda tx: tx.execute(POSTPONE, later))
            return
        done_at = times.now()
        for item in fired:
            name = "patience" if item.step is Step.PATIENCE else "escalated"
            metrics.escalation_steps.labels(name).inc()
            metrics.escalation_lateness.observe((done_at - item.due_at).total_seconds())

    # One writer operation each, so a failure affects one conversation; the writer still
    # commits them in a few batches.
    await asyncio.gather(
        *(run(row["id"], site) for row in rows if (site := found[row["site_id"]]) is not None)
    )
    if len(rows) == BATCH:
        log.warning("more escalation steps due than one pass handles; the rest follow")


async def turn_away(tx: Tx, site: Site, conversation_id: int) -> None:
    """Outside business hours: the away text and the form at once, and no step for this clock.

    Called after the visitor message that opened (or reopened) the conversation. No one is
    alerted: the site says no one is there; a follow-up, if the visitor leaves one, alerts.
    """
    await messages.insert(tx, conversation_id, "system", site.settings.away_text)
    await conversations.set_status(tx, conversation_id, "escalated", only_from=("open",))
    await tx.execute(SAVE, {"steps": int(ALL_STEPS), "next": None, "id": conversation_id})


async def stop_clock(tx: Tx, conversation_id: int) -> None:
    """Stop the clock of a conversation being closed or reopened: no one waits in a closed one.

    A conversation closed while the visitor waited would otherwise keep `waiting_since`, and a
    message after the reopen would join that old clock, whose steps are long done.
    """
    await tx.execute(
        "UPDATE conversations SET waiting_since = NULL WHERE id = :id", {"id": conversation_id}
    )


async def auto_close(db: Database, metrics: Metrics, now: datetime | None = None) -> None:
    """Close conversations quiet for their site's `auto_close_minutes`, telling the visitor.

    Quiet means no message and no other change (`updated_at`) for that long.
    """
    now = now or times.now()
    rows = await db.fetch_all(f"SELECT {sites.SITE_COLUMNS} FROM sites")
    for site in (Site.from_row(row) for row in rows):
        if site.settings.auto_close_minutes <= 0:
            continue
        cutoff = times.iso(now - timedelta(minutes=site.settings.auto_close_minutes))
        quiet = await db.fetch_all(
            "SELECT id FROM conversations WHERE tenant_id = :tenant AND status IN"
            " ('open', 'escalated') AND updated_at <= :cutoff AND site_id = :site LIMIT :limit",
            {"tenant": site.tenant_id, "cutoff": cutoff, "site": site.id, "limit": BATCH},
        )
        for row in quiet:
            op = functools.partial(close_quiet, conversation_id=row["id"], cutoff=cutoff)
            if await db.write(op):
                metrics.escalation_steps.labels("auto_close").inc()


async def close_quiet(tx: Tx, conversation_id: int, cutoff: str) -> bool:
    """Close the conversation if it is still quiet since `cutoff` (re-checked in `tx`, the row
    locked: every process runs the job, and only one may close it and tell the visitor)."""
    row = await tx.fetch_one(
        "SELECT 1 FROM conversations WHERE id = :id AND status != 'closed'"
        " AND updated_at <= :cutoff" + tx.for_update,
        {"id": conversation_id, "cutoff": cutoff},
    )
    if row is None:
        return False
    await messages.insert(tx, conversation_id, "system", AUTO_CLOSED_TEXT)
    await conversations.set_status(tx, conversation_id, "closed")
    await stop_clock(tx, conversation_id)
    return True
