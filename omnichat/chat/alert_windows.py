"""How often a site may alert its on-call contacts: once per window, the rest told in one summary.

Anyone can set an alert off (a visitor left waiting, a follow-up form), so alerts are throttled
per site. The rule, with `alerts.min_interval_seconds` as the interval:

- a site's alert goes out at once when the site has not alerted for the interval; that starts
  a new interval;
- within the interval, alerts are not sent but counted (escalations and follow-ups apart), in the
  same transaction as what caused them, so a restart forgets nothing;
- when the interval ends with something counted, one summary goes out ("3 new follow-ups"), and
  a new interval starts from it.

So a site sends at most one alert (to each number, and one webhook) per interval, however many
visitors, and a burst costs two alerts at most: the first at once, the summary at the end.
The table is `alert_windows` (migration 0007); the alerts module calls `claim` and `settle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from omnichat import times
from omnichat.storage.db import Database, Tx

Kind = Literal["escalated", "followups"]


@dataclass(frozen=True)
class Owed:
    """What a summary tells: counts since `since`, when the site last alerted."""

    escalated: int
    followups: int
    since: str


async def claim(tx: Tx, site_id: int, kind: Kind, now: datetime, interval: float) -> bool:
    """True when the alert may go out now (and the interval restarts); False when it was
    counted toward the summary owed at the end of the interval.

    The decision is one upsert whose condition reads the row it changes: on PostgreSQL two
    escalations of one site at the same moment (two processes) cannot both see a free window.
    """
    if interval <= 0:
        return True
    cutoff = times.iso(now - timedelta(seconds=interval))
    started = await tx.fetch_one(
        "INSERT INTO alert_windows (site_id, last_sent_at) VALUES (:site, :now)"
        " ON CONFLICT (site_id) DO UPDATE SET last_sent_at = :now, escalated = 0,"
        " followups = 0, due_at = NULL"
        " WHERE alert_windows.due_at IS NULL AND alert_windows.last_sent_at <= :cutoff"
        " RETURNING site_id",
        {"site": site_id, "now": times.iso(now), "cutoff": cutoff},
    )
    if started is not None:
        return True
    row = await tx.fetch_one(
        "SELECT last_sent_at FROM alert_windows WHERE site_id = :site" + tx.for_update,
        {"site": site_id},
    )
    assert row is not None, "the upsert left the site's window in place"
    due = times.parse(row["last_sent_at"]) + timedelta(seconds=interval)
    # `kind` is one of two column names, never a value from outside.
    await tx.execute(
        f"UPDATE alert_windows SET {kind} = {kind} + 1, due_at = COALESCE(due_at, :due)"
        " WHERE site_id = :site",
        {"site": site_id, "due": times.iso(due)},
    )
    return False


async def due(db: Database, now: datetime) -> list[int]:
    """Sites whose summary is due (one indexed query; usually none)."""
    rows = await db.fetch_all(
        "SELECT site_id FROM alert_windows WHERE due_at <= :now ORDER BY due_at",
        {"now": times.iso(now)},
    )
    return [int(row["site_id"]) for row in rows]


async def settle(tx: Tx, site_id: int, now: datetime) -> Owed | None:
    """Take the summary owed by the site if it is due (re-read and locked in `tx`, so it is
    taken once, however many passes or processes look); the summary going out starts a new
    interval."""
    row = await tx.fetch_one(
        "SELECT last_sent_at, escalated, followups FROM alert_windows"
        " WHERE site_id = :site AND due_at <= :now" + tx.for_update,
        {"site": site_id, "now": times.iso(now)},
    )
    if row is None:
        return None
    await tx.execute(
        "UPDATE alert_windows SET last_sent_at = :now, escalated = 0, followups = 0,"
        " due_at = NULL WHERE site_id = :site",
        {"site": site_id, "now": times.iso(now)},
    )
    return Owed(row["escalated"], row["followups"], row["last_sent_at"])


def summary_text(site_name: str, owed: Owed) -> str:
    """One line for the person on call: "Shop: 3 new follow-ups and 1 more visitor waiting..."."""
    parts = []
    if owed.followups:
        parts.append(f"{owed.followups} new follow-up{'s' if owed.followups != 1 else ''}")
    if owed.escalated:
        waiting = "visitor" if owed.escalated == 1 else "visitors"
        parts.append(f"{owed.escalated} more {waiting} waiting with no answer")
    return f"{site_name}: {' and '.join(parts)} since the last alert."
