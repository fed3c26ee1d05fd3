"""Reports: figures over the tenant's conversations for a period (reports_api.py,
docs/reports.md)."""

from __future__ import annotations

from omnichat.reports.figures import METRICS
from omnichat.reports.period import CHANNELS, INTERVALS
from omnichat.web.openapi.operations import (
    ID,
    MAX_ID,
    STAFF,
    TIME,
    Schema,
    answer,
    array,
    enum,
    integer,
    nullable,
    operation,
    query,
    string,
)

TAG = "Reports"
COUNT = integer(0)
SECONDS: Schema = nullable({"type": "number", "minimum": 0})
AVERAGE: Schema = nullable({"type": "number", "minimum": 1, "maximum": 5})
RATING = answer({"count": COUNT, "average": AVERAGE})
DATE = string(pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
PERIOD = [
    query("from", DATE, "First day, YYYY-MM-DD in tz (default: six days before to)."),
    query("to", DATE, "Last day, inclusive (default: today in tz)."),
    query("tz", string(), "IANA time zone (default UTC)."),
    query("site", integer(1, MAX_ID)),
    query("agent", integer(1, MAX_ID)),
    query("channel", enum(*CHANNELS)),
]
SUMMARY = answer(
    {
        "conversations": COUNT,
        "messages": answer({"visitor": COUNT, "agent": COUNT}),
        "first_response_seconds": answer({"median": SECONDS, "p90": SECONDS}),
        "resolution_seconds": answer({"median": SECONDS, "p90": SECONDS}),
        "escalated": COUNT,
        "followups": COUNT,
        "rating": RATING,
        "missed": COUNT,
    }
)
POINT = answer({"start": TIME, "value": nullable({"type": "number"})})
AGENT = answer(
    {
        "id": ID,
        "name": string(),
        "conversations": COUNT,
        "messages": COUNT,
        "first_response_seconds": answer({"median": SECONDS}),
        "rating": RATING,
    }
)
CSV: Schema = string()


def _report(summary: str, answers: dict[int, Schema], extra: list[Schema] | None = None) -> Schema:
    # 404: a site or agent filter naming another tenant's (or no) record.
    return operation(
        summary,
        tag=TAG,
        security=STAFF,
        params=[*PERIOD, *(extra or [])],
        answers=answers,
        errors=[404],
    )


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/reports/summary": {
            "get": _report("Headline figures for the period", {200: SUMMARY}),
        },
        "/api/v1/reports/timeseries": {
            "get": _report(
                "One figure per hour, day or week of the period, every interval present",
                {200: answer({"points": array(POINT)})},
                [query("metric", enum(*METRICS)), query("interval", enum(*INTERVALS))],
            ),
        },
        "/api/v1/reports/agents": {
            "get": _report("Figures per agent", {200: answer({"agents": array(AGENT)})}),
        },
        "/api/v1/reports/export.csv": {
            "get": operation(
                "One CSV row per conversation of the period, with its figures",
                tag=TAG,
                security=STAFF,
                params=PERIOD,
                answers={200: CSV},
                errors=[404],
                content_type="text/csv",
            ),
        },
    }
