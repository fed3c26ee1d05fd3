"""Admin reads: the audit log and the conversations export."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from omnichat import times
from omnichat.accounts import audit
from omnichat.chat import exports
from omnichat.ids import MAX_ID
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import NO_STORE, JSONResponse, query_int

AUDIT_PAGE = (50, 200)  # default and largest `limit`
DEFAULT_EXPORT_DAYS = 30


async def audit_log(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    default, largest = AUDIT_PAGE
    limit = query_int(request, "limit", default, 1, largest)
    before = query_int(request, "before", None, 1, MAX_ID)
    entries, cursor = await audit.page(ctx.db, staff.tenant_id, before=before, limit=limit)
    return JSONResponse(
        {
            "entries": [entry.json() for entry in entries],
            "next": None if cursor is None else str(cursor),
        }
    )


async def export_conversations(request: Request) -> StreamingResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    days = query_int(request, "days", DEFAULT_EXPORT_DAYS, 1, exports.MAX_DAYS)
    await audit.record_alone(
        ctx.db,
        tenant_id=staff.tenant_id,
        actor_id=staff.id,
        action="export.conversations",
        details={"days": days},
        ip=client_ip(request),
        token_id=staff.token_id,
    )
    name = f"conversations-{times.now_iso()[:10]}-{days}d.csv"
    return StreamingResponse(
        exports.conversations_csv(ctx.db, staff.tenant_id, days),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


routes = [
    Route("/api/v1/audit", audit_log, methods=["GET"]),
    Route("/api/v1/export/conversations.csv", export_conversations, methods=["GET"]),
]
