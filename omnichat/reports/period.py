"""What a report covers: a date range in a time zone, filters, and the intervals of a series."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnichat import times
from omnichat.errors import Invalid
from omnichat.ids import digits

Interval = Literal["hour", "day", "week"]
INTERVALS: tuple[Interval, ...] = ("hour", "day", "week")
CHANNELS = ("web", "sms", "whatsapp")
# A year and a day: a leap year's worth, and the bound on what one report may cost.
MAX_DAYS = 366
DEFAULT_DAYS = 7
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Who a conversation counts for in per-agent figures and the agent filter: its assignee, or,
# when nobody is assigned, the agent who sent the first public reply.
AGENT = "COALESCE(c.assignee_id, c.first_responder_id)"


@dataclass(frozen=True)
class Period:
    """The caller's days `first`..`last` (inclusive) in `zone`, with optional filters."""

    tenant_id: int
    first: date
    last: date
    zone: ZoneInfo
    site_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None

    @property
    def start(self) -> datetime:
        return local_midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after the range (the midnight after `last`)."""
        return local_midnight(self.last + timedelta(days=1), self.zone)

    def where(self) -> tuple[str, dict[str, Any]]:
        """The filters as a condition on conversations `c` (the range not included)."""
        parts = ["c.tenant_id = :tenant"]
        params: dict[str, Any] = {"tenant": self.tenant_id}
        if self.site_id is not None:
            parts.append("c.site_id = :site")
            params["site"] = self.site_id
        if self.channel is not None:
            parts.append("c.channel = :channel")
            params["channel"] = self.channel
        if self.agent_id is not None:
            parts.append(f"{AGENT} = :agent")
            params["agent"] = self.agent_id
        return " AND ".join(parts), params

    def in_range(self) -> tuple[str, dict[str, Any]]:
        """The filters and the range: conversations `c` started between start and end."""
        where, params = self.where()
        params.update(start=times.iso(self.start), end=times.iso(self.end))
        return where + " AND c.created_at >= :start AND c.created_at < :end", params

    def starts(self, interval: Interval) -> list[datetime]:
        """The start of every interval of the range, in order (UTC instants).

        Days and hours follow the zone's clock, so a day changing to or from summer time has 23
        or 25 hours; weeks start on Monday, the first one at the range's first day.
        """
        days = [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]
        if interval == "day":
            return [local_midnight(day, self.zone) for day in days]
        if interval == "week":
            return [
                local_midnight(day, self.zone)
                for day in days
                if day == self.first or day.weekday() == 0
            ]
        found, moment, end = [], self.start, self.end
        while moment < end:
            found.append(moment)
            moment += timedelta(hours=1)
        return found


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """When `day` starts in `zone`, as a UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def parse(tenant_id: int, query: Mapping[str, str]) -> Period:
    """The period a report's query asks for; `Invalid` names the bad field.

    `tz` defaults to UTC, `to` to today there and `from` to six days before `to`.
    """
    zone = _zone(query.get("tz") or "UTC")
    today = times.now().astimezone(zone).date()
    last = _date(query, "to") or today
    first = _date(query, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise Invalid("to", "must not be before from")
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid("to", f"must be at most {MAX_DAYS} days after from, counting both")
    channel = query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise Invalid("channel", "must be one of " + ", ".join(CHANNELS))
    return Period(
        tenant_id,
        first,
        last,
        zone,
        site_id=_id(query, "site"),
        agent_id=_id(query, "agent"),
        channel=channel,
    )


def parse_interval(query: Mapping[str, str]) -> Interval:
    value = query.get("interval") or "day"
    for interval in INTERVALS:
        if value == interval:
            return interval
    raise Invalid("interval", "must be one of " + ", ".join(INTERVALS))


def _zone(name: str) -> ZoneInfo:
    if len(name) > 64 or not name.isascii():
        raise Invalid("tz", "must be an IANA time zone name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("tz", "must be an IANA time zone name such as Europe/Berlin") from None


def _date(query: Mapping[str, str], name: str) -> date | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        if not DATE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(name, "must be a date written YYYY-MM-DD") from None


def _id(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if not raw:
        return None
    number = digits(raw)
    if number is None:
        raise Invalid(name, "must be an id")
    return number
