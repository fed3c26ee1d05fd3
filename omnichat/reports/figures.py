"""The figures: summary, time series and per-agent, read from the conversations' facts.

Percentiles are computed in SQL with window functions over the durations of the range only, so
no more than one number per conversation of the range is sorted and nothing leaves SQLite but
the answer. Median: the middle value, or the mean of the two middle ones; p90: nearest rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from omnichat import times
from omnichat.errors import Invalid, NotFound
from omnichat.reports.period import AGENT, Interval, Period
from omnichat.storage.db import Database

Metric = Literal["conversations", "messages", "first_response", "resolution", "escalated", "rating"]
METRICS: tuple[Metric, ...] = (
    "conversations",
    "messages",
    "first_response",
    "resolution",
    "escalated",
    "rating",
)

# Durations in seconds, each with the condition under which a conversation has one.
FIRST_RESPONSE = (
    "(julianday(c.first_response_at) - julianday(c.first_visitor_message_at)) * 86400.0",
    "c.first_response_at IS NOT NULL AND c.first_visitor_message_at IS NOT NULL",
)
RESOLUTION = (
    "(julianday(c.first_closed_at) - julianday(c.first_visitor_message_at)) * 86400.0",
    "c.first_closed_at IS NOT NULL AND c.first_visitor_message_at IS NOT NULL"
    " AND c.first_closed_at >= c.first_visitor_message_at",
)
# Missed: the visitor wrote, no agent ever replied publicly, and it was closed (a conversation
# still open is waiting, not missed yet).
MISSED = (
    "(c.first_visitor_message_at IS NOT NULL AND c.first_response_at IS NULL"
    " AND c.first_closed_at IS NOT NULL)"
)

TOTALS = """
SELECT COUNT(*) AS conversations,
       COALESCE(SUM(c.visitor_messages), 0) AS visitor_messages,
       COALESCE(SUM(c.agent_messages), 0) AS agent_messages,
       COALESCE(SUM(c.escalated_at IS NOT NULL), 0) AS escalated,
       COUNT(c.rating_score) AS rating_count,
       AVG(c.rating_score) AS rating_average,
       COALESCE(SUM({missed}), 0) AS missed
FROM conversations c WHERE {where}
"""

PERCENTILES = """
WITH d AS (SELECT {duration} AS s FROM conversations c WHERE {where} AND {has}),
r AS (SELECT s, ROW_NUMBER() OVER (ORDER BY s) AS rn, COUNT(*) OVER () AS n FROM d)
SELECT AVG(s) FILTER (WHERE rn IN ((n + 1) / 2, n / 2 + 1)) AS median,
       MAX(s) FILTER (WHERE rn = (9 * n + 9) / 10) AS p90
FROM r
"""

# Follow-ups count by when they were left (they have no conversation facts of their own); the
# site is their conversation's or, without one, their visitor's.
FOLLOWUPS = """
SELECT COUNT(*) FROM followups f
LEFT JOIN conversations c ON c.id = f.conversation_id
LEFT JOIN visitors v ON v.id = f.visitor_id
WHERE f.tenant_id = :tenant AND f.created_at >= :start AND f.created_at < :end
"""

# The intervals of a series: starts as a JSON array, each ending where the next one starts.
BUCKETS = """
WITH b AS (
    SELECT key AS i, value AS start, lead(value, 1, :end) OVER (ORDER BY key) AS stop
    FROM json_each(:starts)
)
"""
# CROSS JOIN keeps the intervals outside, so each reads its slice of the started-at index.
IN_BUCKET = " FROM b CROSS JOIN conversations c WHERE {where}" + (
    " AND c.created_at >= b.start AND c.created_at < b.stop"
)
SERIES_VALUES: dict[Metric, str] = {
    "conversations": "COUNT(*)",
    "messages": "SUM(c.visitor_messages + c.agent_messages)",
    "escalated": "SUM(c.escalated_at IS NOT NULL)",
    "rating": "AVG(c.rating_score)",
}
SERIES_MEDIAN = """
, d AS (SELECT b.i AS i, {duration} AS s {in_bucket} AND {has}),
r AS (SELECT i, s, ROW_NUMBER() OVER (PARTITION BY i ORDER BY s) AS rn,
             COUNT(*) OVER (PARTITION BY i) AS n FROM d)
SELECT i, AVG(s) AS value FROM r WHERE rn IN ((n + 1) / 2, n / 2 + 1) GROUP BY i
"""

AGENTS = """
SELECT {agent} AS agent, COUNT(*) AS conversations, SUM(c.agent_messages) AS messages,
       COUNT(c.rating_score) AS rating_count, AVG(c.rating_score) AS rating_average
FROM conversations c WHERE {where} AND {agent} IS NOT NULL GROUP BY 1
"""
AGENT_MEDIANS = """
WITH d AS (SELECT {agent} AS agent, {duration} AS s FROM conversations c
           WHERE {where} AND {has} AND {agent} IS NOT NULL),
r AS (SELECT agent, s, ROW_NUMBER() OVER (PARTITION BY agent ORDER BY s) AS rn,
             COUNT(*) OVER (PARTITION BY agent) AS n FROM d)
SELECT agent, AVG(s) AS median FROM r WHERE rn IN ((n + 1) / 2, n / 2 + 1) GROUP BY agent
"""
# Every enabled member of the team is listed, with zeros when they had nothing in the range.
STAFF = "SELECT id, name, disabled FROM users WHERE tenant_id = :tenant ORDER BY name, id"


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


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _average(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _percentiles(
    db: Database, period: Period, duration: tuple[str, str]
) -> dict[str, float | None]:
    where, params = period.in_range()
    row = await db.fetch_one(
        PERCENTILES.format(duration=duration[0], has=duration[1], where=where), params
    )
    assert row is not None
    return {"median": _seconds(row["median"]), "p90": _seconds(row["p90"])}


async def summary(db: Database, period: Period) -> dict[str, Any]:
    """The contract's summary object for the period."""
    where, params = period.in_range()
    row = await db.fetch_one(TOTALS.format(missed=MISSED, where=where), params)
    assert row is not None
    return {
        "conversations": row["conversations"],
        "messages": {"visitor": row["visitor_messages"], "agent": row["agent_messages"]},
        "first_response_seconds": await _percentiles(db, period, FIRST_RESPONSE),
        "resolution_seconds": await _percentiles(db, period, RESOLUTION),
        "escalated": row["escalated"],
        "followups": await followups(db, period),
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
    in_bucket = IN_BUCKET.format(where=where)
    if metric in SERIES_VALUES:
        sql = (
            f"{BUCKETS} SELECT b.i AS i, {SERIES_VALUES[metric]} AS value {in_bucket} GROUP BY b.i"
        )
    else:
        duration = FIRST_RESPONSE if metric == "first_response" else RESOLUTION
        sql = BUCKETS + SERIES_MEDIAN.format(
            duration=duration[0], has=duration[1], in_bucket=in_bucket
        )
    found = {row["i"]: row["value"] for row in await db.fetch_all(sql, params)}
    empty: float | int | None = 0 if metric in ("conversations", "messages", "escalated") else None
    rounding = _average if metric == "rating" else _seconds
    return [
        Point(start, empty if i not in found else _value(found[i], metric, rounding))
        for i, start in enumerate(starts)
    ]


def _value(value: Any, metric: Metric, rounding: Any) -> float | int | None:
    if metric in ("conversations", "messages", "escalated"):
        return int(value or 0)
    result: float | None = rounding(value)
    return result


async def agents(db: Database, period: Period) -> list[dict[str, Any]]:
    """Per-agent figures: every enabled member of the team, and anyone else with conversations."""
    where, params = period.in_range()
    rows = await db.fetch_all(AGENTS.format(agent=AGENT, where=where), params)
    figures = {row["agent"]: row for row in rows}
    duration, has = FIRST_RESPONSE
    medians = {
        row["agent"]: row["median"]
        for row in await db.fetch_all(
            AGENT_MEDIANS.format(agent=AGENT, duration=duration, has=has, where=where), params
        )
    }
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
                "first_response_seconds": {"median": _seconds(medians.get(person["id"]))},
                "rating": {
                    "count": 0 if row is None else row["rating_count"],
                    "average": None if row is None else _average(row["rating_average"]),
                },
            }
        )
    result.sort(key=lambda item: (-item["conversations"], item["name"].casefold()))
    return result
