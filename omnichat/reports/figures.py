"""The figures: summary, time series and per-agent, read from the conversations' facts.

Every query reads only the columns of the `conversations_report` index (migration 0024), so it
never visits table rows. Percentiles need the durations of the range sorted: SQLite's sorter
is slow for that, so one pass hands them over as a JSON array (`json_group_array`) and Python
sorts them; the range is capped (366 days), which bounds that list. Median: the middle value,
or the mean of the two middle ones; p90: nearest rank.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from omnichat import times
from omnichat.errors import Invalid, NotFound
from omnichat.reports.period import AGENT, Interval, Period
from omnichat.storage.db import Database, Dialect

Metric = Literal["conversations", "messages", "first_response", "resolution", "escalated", "rating"]
METRICS: tuple[Metric, ...] = (
    "conversations",
    "messages",
    "first_response",
    "resolution",
    "escalated",
    "rating",
)

# Missed: the visitor wrote, it was closed (so it has a resolution time), and no agent ever
# replied publicly. A conversation still open is waiting, not missed yet.
MISSED = "(c.resolution_ms IS NOT NULL AND c.first_response_ms IS NULL)"
FIRST_RESPONSES = (
    "json_group_array(c.first_response_ms) FILTER (WHERE c.first_response_ms IS NOT NULL)"
)
RESOLUTIONS = "json_group_array(c.resolution_ms) FILTER (WHERE c.resolution_ms IS NOT NULL)"

TOTALS = f"""
SELECT COUNT(*) AS conversations,
       COALESCE(SUM(c.visitor_messages), 0) AS visitor_messages,
       COALESCE(SUM(c.agent_messages), 0) AS agent_messages,
       COUNT(c.escalated_at) AS escalated,
       COUNT(c.rating_score) AS rating_count,
       AVG(CAST(c.rating_score AS DOUBLE PRECISION)) AS rating_average,
       COUNT(*) FILTER (WHERE {MISSED}) AS missed
FROM conversations c WHERE {{where}}
"""
# The two duration lists are read beside the totals, each on its own reader connection: SQLite
# builds them without the GIL, so on two cores the three passes overlap.
DURATIONS = "SELECT {durations} FROM conversations c WHERE {where}"

# Follow-ups count by when they were left (they have no conversation facts of their own); the
# site is their conversation's or, without one, their visitor's.
FOLLOWUPS = """
SELECT COUNT(*) FROM followups f
LEFT JOIN conversations c ON c.id = f.conversation_id
LEFT JOIN visitors v ON v.id = f.visitor_id
WHERE f.tenant_id = :tenant AND f.created_at >= :start AND f.created_at < :end
"""

# The intervals of a series: starts as a JSON array, each ending where the next one starts;
# each interval reads its own slice of the index (no sort, no grouping).
STARTS: dict[Dialect, str] = {
    "sqlite": "SELECT key AS i, value AS start FROM json_each(:starts)",
    "postgresql": "SELECT j.i - 1 AS i, j.start"
    " FROM json_array_elements_text(CAST(:starts AS json)) WITH ORDINALITY AS j(start, i)",
}
SERIES = """
WITH s AS ({starts}),
b AS (SELECT i, start, lead(start, 1, :end) OVER (ORDER BY i) AS stop FROM s)
SELECT b.i AS i, (SELECT {value} FROM conversations c WHERE {where}
                  AND c.created_at >= b.start AND c.created_at < b.stop) AS value
FROM b ORDER BY b.i
"""
SERIES_VALUES: dict[Metric, str] = {
    "conversations": "COUNT(*)",
    "messages": "COALESCE(SUM(c.visitor_messages + c.agent_messages), 0)",
    "escalated": "COUNT(c.escalated_at)",
    "rating": "AVG(CAST(c.rating_score AS DOUBLE PRECISION))",
    "first_response": FIRST_RESPONSES,
    "resolution": RESOLUTIONS,
}

AGENTS = f"""
SELECT {AGENT} AS agent, COUNT(*) AS conversations, SUM(c.agent_messages) AS messages,
       COUNT(c.rating_score) AS rating_count,
       AVG(CAST(c.rating_score AS DOUBLE PRECISION)) AS rating_average,
       {FIRST_RESPONSES} AS first_responses
FROM conversations c WHERE {{where}} AND {AGENT} IS NOT NULL GROUP BY 1
"""
# Every enabled member of the team is listed, with zeros when they had nothing in the range.
STAFF = "SELECT id, name, disabled FROM users WHERE tenant_id = :tenant ORDER BY name, id"


def percentiles(durations_ms: str | None) -> dict[str, float | None]:
    """Median and p90 in seconds of a JSON array of milliseconds (nulls when it is empty)."""
    values = sorted(orjson.loads(durations_ms or "[]"))
    if not values:
        return {"median": None, "p90": None}
    n = len(values)
    middle = (values[(n - 1) // 2] + values[n // 2]) / 2
    return {"median": _seconds(middle), "p90": _seconds(values[math.ceil(0.9 * n) - 1])}


@dataclass(frozen=True)
class Point:
    start: str
    value: float | int | None


async def check_filters(db: Database, period: Period) -> None:
    """`NotFound` when the site or agent filter names another tenant's (or no) record."""
    if period.site_id is not None:
        found = await db.fetch_value(
            "SELECT 1 FROM sites WHERE id = :id AND tenant_id = :tenant",
            {"id": period.site_id, "tenant": period.tenant_id},
        )
        if found is None:
            raise NotFound("no such site")
    if period.agent_id is not None:
        found = await db.fetch_value(
            "SELECT 1 FROM users WHERE id = :id AND tenant_id = :tenant",
            {"id": period.agent_id, "tenant": period.tenant_id},
        )
        if found is None:
            raise NotFound("no such user")


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else round(milliseconds / 1000, 1)


def _average(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def summary(db: Database, period: Period) -> dict[str, Any]:
    """The contract's summary object for the period."""
    where, params = period.in_range()
    row, first_responses, resolutions, left = await asyncio.gather(
        db.fetch_one(TOTALS.format(where=where), params),
        db.fetch_value(DURATIONS.format(durations=FIRST_RESPONSES, where=where), params),
        db.fetch_value(DURATIONS.format(durations=RESOLUTIONS, where=where), params),
        followups(db, period),
    )
    assert row is not None
    return {
        "conversations": row["conversations"],
        "messages": {"visitor": row["visitor_messages"], "agent": row["agent_messages"]},
        "first_response_seconds": percentiles(first_responses),
        "resolution_seconds": percentiles(resolutions),
        "escalated": row["escalated"],
        "followups": left,
        "rating": {"count": row["rating_count"], "average": _average(row["rating_average"])},
        "missed": row["missed"],
    }


async def followups(db: Database, period: Period) -> int:
    sql, params = (
        FOLLOWUPS,
        {
            "tenant": period.tenant_id,
            "start": times.iso(period.start),
            "end": times.iso(period.end),
        },
    )
    if period.site_id is not None:
        sql += " AND COALESCE(c.site_id, v.site_id) = :site"
        params["site"] = period.site_id
    if period.channel is not None:
        sql += " AND COALESCE(c.channel, 'web') = :channel"
        params["channel"] = period.channel
    if period.agent_id is not None:
        sql += f" AND {AGENT} = :agent"
        params["agent"] = period.agent_id
    return int(await db.fetch_value(sql, params) or 0)


def parse_metric(value: str | None) -> Metric:
    for metric in METRICS:
        if value == metric:
            return metric
    raise Invalid("metric", "must be one of " + ", ".join(METRICS))


async def timeseries(
    db: Database, period: Period, metric: Metric, interval: Interval
) -> list[Point]:
    """One point per interval of the range: counts are 0 when empty, medians and averages null."""
    starts = [times.iso(moment) for moment in period.starts(interval)]
    where, params = period.where()
    params.update(starts=orjson.dumps(starts).decode(), end=times.iso(period.end))
    query = SERIES.format(starts=STARTS[db.dialect], value=SERIES_VALUES[metric], where=where)
    rows = await db.fetch_all(query, params)
    return [Point(starts[row["i"]], _point(metric, row["value"])) for row in rows]


def _point(metric: Metric, value: Any) -> float | int | None:
    if metric in ("first_response", "resolution"):
        return percentiles(value)["median"]
    if metric == "rating":
        return _average(value)
    return int(value or 0)


async def agents(db: Database, period: Period) -> list[dict[str, Any]]:
    """Per-agent figures: every enabled member of the team, and anyone else with conversations."""
    where, params = period.in_range()
    rows = await db.fetch_all(AGENTS.format(where=where), params)
    figures = {row["agent"]: row for row in rows}
    staff = await db.fetch_all(STAFF, {"tenant": period.tenant_id})
    result = []
    for person in staff:
        row = figures.get(person["id"])
        if row is None and (person["disabled"] or period.agent_id not in (None, person["id"])):
            continue
        result.append(
            {
                "id": person["id"],
                "name": person["name"],
                "conversations": 0 if row is None else row["conversations"],
                "messages": 0 if row is None else row["messages"],
                "first_response_seconds": {
                    "median": None if row is None else percentiles(row["first_responses"])["median"]
                },
                "rating": {
                    "count": 0 if row is None else row["rating_count"],
                    "average": None if row is None else _average(row["rating_average"]),
                },
            }
        )
    result.sort(key=lambda item: (-item["conversations"], item["name"].casefold()))
    return result
