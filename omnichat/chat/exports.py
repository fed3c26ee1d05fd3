"""Exports for admins: conversations as CSV, streamed in pages, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from omnichat import times
from omnichat.storage.db import Database

MAX_DAYS = 366
PAGE = 500
HEADER = [
    "id",
    "created_at",
    "status",
    "channel",
    "site",
    "visitor_name",
    "visitor_email",
    "visitor_phone",
    "assignee",
    "message_count",
    "last_message_at",
]
# A spreadsheet runs a cell starting with one of these as a formula ("CSV injection"); visitors
# choose their own names, so every text cell is defused with a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

ROWS = """
SELECT c.id, c.created_at, c.status, c.channel, s.name AS site, v.name AS visitor_name,
       v.email AS visitor_email, v.phone AS visitor_phone, u.name AS assignee,
       (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,
       (SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = c.id)
           AS last_message_at
FROM conversations c
JOIN visitors v ON v.id = c.visitor_id
JOIN sites s ON s.id = c.site_id
LEFT JOIN users u ON u.id = c.assignee_id
WHERE c.tenant_id = :tenant_id AND c.updated_at >= :since AND c.id > :after
ORDER BY c.id
LIMIT :limit
"""


def defuse(value: Any) -> Any:
    """A cell value a spreadsheet shows as text rather than evaluates."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


async def conversations_csv(db: Database, tenant_id: int, days: int) -> AsyncIterator[str]:
    """CSV text, header first: conversations of the tenant with activity in the last `days`."""
    since = times.iso(times.now() - timedelta(days=days))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    # The byte-order mark makes spreadsheet programs read the file as UTF-8.
    buffer.write("\ufeff")
    writer.writerow(HEADER)
    after = 0
    while True:
        rows = await db.fetch_all(
            ROWS, {"tenant_id": tenant_id, "since": since, "after": after, "limit": PAGE}
        )
        for row in rows:
            writer.writerow([defuse(row[name]) for name in HEADER])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < PAGE:
            return
        after = rows[-1]["id"]
