"""`/api/v1/reports/...`: figures over the tenant's conversations, for admins."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from omnichat.accounts import audit
from omnichat.reports import export, figures, period
from omnichat.reports.period import Period
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import NO_STORE, JSONResponse


async def _period(request: Request) -> Period:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    asked = period.parse(staff.tenant_id, request.query_params)
    await figures.check_filters(ctx.db, asked)
    return asked


async def summary(request: Request) -> JSONResponse:
    asked = await _period(request)
    return JSONResponse(await figures.summary(context(request).db, asked))


async def timeseries(request: Request) -> JSONResponse:
    asked = await _period(request)
    metric = figures.parse_metric(request.query_params.get("metric", "conversations"))
    interval = period.parse_interval(request.query_params)
    points = await figures.timeseries(context(request).db, asked, metric, interval)
    return JSONResponse(
        {"points": [{"start": point.start, "value": point.value} for point in points]}
    )


async def agents(request: Request) -> JSONResponse:
    asked = await _period(request)
    return JSONResponse({"agents": await figures.agents(context(request).db, asked)})


async def export_csv(request: Request) -> StreamingResponse:
    ctx = context(request)
    asked = await _period(request)
    staff = await require_staff(request, "admin")
    await audit.record_alone(
        ctx.db,
        tenant_id=staff.tenant_id,
        actor_id=staff.id,
        action="export.report",
        details={"from": asked.first.isoformat(), "to": asked.last.isoformat()},
        ip=client_ip(request),
        token_id=staff.token_id,
    )
    return StreamingResponse(
        export.rows_csv(ctx.db, asked),
        media_type="text/csv; charset=utf-8",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="{export.file_name(asked)}"',
        },
    )


routes = [
    Route("/api/v1/reports/summary", summary, methods=["GET"]),
    Route("/api/v1/reports/timeseries", timeseries, methods=["GET"]),
    Route("/api/v1/reports/agents", agents, methods=["GET"]),
    Route("/api/v1/reports/export.csv", export_csv, methods=["GET"]),
]
