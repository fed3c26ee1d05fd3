"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat.web.context import context
from omnichat.web.responses import JSONResponse


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    """200 when the database answers, migrations are current and the scheduler runs."""
    ctx = context(request)
    checks: dict[str, str] = {}
    try:
        applied = await ctx.db.fetch_value("SELECT MAX(version) FROM schema_migrations")
        checks["database"] = "ok"
        expected = ctx.schema_version
        checks["migrations"] = "ok" if applied == expected else f"at {applied}, want {expected}"
    except Exception as exc:
        checks["database"] = f"failing: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    checks["scheduler"] = "ok" if ctx.jobs.running else "not running"
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        message = "; ".join(f"{name}: {checks[name]}" for name in failing)
        return JSONResponse(
            {"error": {"code": "not_ready", "message": message}, "checks": checks}, 503
        )
    return JSONResponse({"status": "ok", "checks": checks})


async def metrics(request: Request) -> Response:
    return Response(
        context(request).metrics.render(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )


routes = [
    Route("/health/live", live),
    Route("/health/ready", ready),
    Route("/metrics", metrics),
]
