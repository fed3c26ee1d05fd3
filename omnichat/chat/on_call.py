"""The on-call rota: who a site's alert goes to right now.

A site's `on_call` setting is a list of named weekly windows (validated by
`site_fields.parse_on_call`): `{"name", "days": [0-6, Monday=0], "start": "HH:MM",
"end": "HH:MM", "numbers": [...], "emails": [...]}`, read on the wall clock of the site's
business-hours time zone (UTC without one). A window covers `start` (included) to `end`
(excluded) on each of its days; "24:00" ends a day, and an `end` before `start` crosses
midnight: the window runs from `start` on a listed day to `end` on the next day.

Within a window, round-robin: its nth alert goes to `numbers[n mod len]` and
`emails[n mod len]` (so a person listed at the same place in both gets both), the position
kept per site and window name in `on_call_positions` and advanced in the alert's transaction.
Every window covering the moment gives its contact. When none does (or `on_call` is empty),
the flat `alert_numbers`/`alert_emails` are used, as before the rota existed.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from omnichat.storage.db import Tx

log = logging.getLogger("omnichat.on_call")


def _zone(business_hours: dict[str, Any] | None) -> zoneinfo.ZoneInfo:
    try:
        if business_hours:
            return zoneinfo.ZoneInfo(str(business_hours["timezone"]))
    except (KeyError, TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        log.warning("unreadable business-hours time zone; the on-call rota reads UTC")
    return zoneinfo.ZoneInfo("UTC")


def covers(window: dict[str, Any], local: datetime) -> bool:
    """Whether `window` covers the local wall-clock moment `local`."""
    now = local.strftime("%H:%M")
    today = local.weekday()
    yesterday = (local - timedelta(days=1)).weekday()
    start, end, days = window["start"], window["end"], window["days"]
    if start < end:
        return today in days and start <= now < end
    # Crossing midnight: the evening part today, or the morning part of yesterday's window.
    return (today in days and now >= start) or (yesterday in days and now < end)


def covering(
    windows: list[dict[str, Any]], business_hours: dict[str, Any] | None, moment: datetime
) -> list[dict[str, Any]]:
    """The windows covering `moment` (aware), in the site's business-hours zone."""
    local = moment.astimezone(_zone(business_hours))
    found: list[dict[str, Any]] = []
    for window in windows:
        try:
            if covers(window, local):
                found.append(window)
        except (KeyError, TypeError):
            log.warning("unreadable on-call window skipped")
    return found


async def contacts(
    tx: Tx,
    site_id: int,
    windows: list[dict[str, Any]],
    business_hours: dict[str, Any] | None,
    moment: datetime,
) -> tuple[list[str], list[str]] | None:
    """(numbers, emails) of this alert, each covering window's next in turn (advanced in `tx`);
    None when no window covers `moment`: the caller falls back to the flat lists."""
    found = covering(windows, business_hours, moment)
    if not found:
        return None
    numbers: list[str] = []
    emails: list[str] = []
    for window in found:
        position = await tx.fetch_one(
            "INSERT INTO on_call_positions (site_id, window_name) VALUES (:site, :window)"
            " ON CONFLICT (site_id, window_name)"
            " DO UPDATE SET position = on_call_positions.position + 1"
            " RETURNING position",
            {"site": site_id, "window": window["name"]},
        )
        turn = 0 if position is None else int(position[0])
        for chosen, pool in (
            (numbers, window.get("numbers") or []),
            (emails, window.get("emails") or []),
        ):
            if pool and pool[turn % len(pool)] not in chosen:
                chosen.append(pool[turn % len(pool)])
    return numbers, emails
