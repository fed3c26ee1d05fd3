"""The reports' CSV: one row per conversation of the period with its figures."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from omnichat.chat.exports import defuse
from omnichat.reports.figures import MISSED
from omnichat.reports.period import AGENT, Period
from omnichat.storage.db import Database

PAGE = 1000
HEADER = [
    "id",
    "created_at",
    "site",
    "channel",
    "status",
    "agent",
    "visitor_messages",
    "agent_messages",
    "first_visitor_message_at",
    "first_response_at",
    "first_response_seconds",
    "first_closed_at",
    "resolution_seconds",
    "escalated_at",
    "missed",
    "rating",
]

ROWS = f"""
SELECT c.id, c.created_at, s.name AS site, c.channel, c.status, u.name AS agent,
       c.visitor_messages, c.agent_messages, c.first_visitor_message_at, c.first_response_at,
       ROUND(c.first_response_ms / 1000.0, 1) AS first_response_seconds, c.first_closed_at,
       ROUND(c.resolution_ms / 1000.0, 1) AS resolution_seconds,
       c.escalated_at, CASE WHEN {MISSED} THEN 1 ELSE 0 END AS missed, c.rating_score AS rating
FROM conversations c
JOIN sites s ON s.id = c.site_id
LEFT JOIN users u ON u.id = {AGENT}
WHERE {{where}} AND (c.created_at, c.id) > (:after_at, :after_id)
ORDER BY c.created_at, c.id
LIMIT :limit
"""


async def rows_csv(db: Database, period: Period) -> AsyncIterator[str]:
    """CSV text, header first, in pages; every text cell defused for spreadsheets."""
    where, params = period.in_range()
    sql = ROWS.format(where=where)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    # The byte-order mark makes spreadsheet programs read the file as UTF-8.
    buffer.write("\ufeff")
    writer.writerow(HEADER)
    after_at, after_id = "", 0
    while True:
        rows = await db.fetch_all(
            sql, {**params, "after_at": after_at, "after_id": after_id, "limit": PAGE}
        )
        for row in rows:
            writer.writerow([defuse(row[name]) for name in HEADER])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < PAGE:
            return
        after_at, after_id = rows[-1]["created_at"], rows[-1]["id"]


def file_name(period: Period) -> str:
    return f"report-{period.first.isoformat()}-{period.last.isoformat()}.csv"
