"""A site's business hours: a weekly schedule in its own time zone.

The stored form (validated by `site_fields.parse_business_hours` when staff set it) is
`{"timezone": "Europe/Paris", "days": {"mon": [["09:00", "17:00"]], ...}}`: a day that is missing
or empty is closed, ranges are local wall-clock times with the start included and the end
excluded, and "24:00" ends a day. A range cannot cross midnight: write ["22:00", "24:00"] on one
day and ["00:00", "02:00"] on the next. No schedule (None) means always open.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime
from typing import Any

log = logging.getLogger("omnichat.business_hours")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(hours: dict[str, Any] | None, moment: datetime) -> bool:
    """Whether `moment` (aware) falls inside the schedule; None is always open.

    Daylight-saving changes follow the zone's rules: "09:00" is 09:00 on the local clock, whatever
    the UTC offset that day.
    """
    if hours is None:
        return True
    try:
        local = moment.astimezone(zoneinfo.ZoneInfo(hours["timezone"]))
        ranges = hours["days"].get(WEEKDAYS[local.weekday()], [])
        now = local.strftime("%H:%M")
        return any(start <= now < end for start, end in ranges)
    except (KeyError, TypeError, ValueError, AttributeError, zoneinfo.ZoneInfoNotFoundError):
        # A schedule the API would refuse (written straight into the database, or a zone the
        # system no longer knows): treat the site as open rather than turn every visitor away.
        log.warning("unreadable business hours; treating the site as open")
        return True
