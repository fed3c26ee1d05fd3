"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat import times
from omnichat.storage import migrations
from omnichat.web.context import Context, context
from omnichat.web.responses import JSONResponse


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    """200 when the database answers, migrations are current and the scheduler runs."""
    ctx = context(request)
    checks: dict[str, str] = {}
    try:
        applied = await migrations.applied_version(ctx.db)
        checks["database"] = "ok"
        expected = ctx.schema_version
        checks["migrations"] = "ok" if applied == expected else f"at {applied}, want {expected}"
    except Exception as exc:
        checks["database"] = f"failing: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    checks["scheduler"] = "ok" if ctx.jobs.running else "not running"
    failing = [name for name, state in checks.items() if state != "ok"]
    backup = await backup_summary(ctx)
    if failing:
        message = "; ".join(f"{name}: {checks[name]}" for name in failing)
        return JSONResponse(
            {
                "error": {"code": "not_ready", "message": message},
                "checks": checks,
                "backup": backup,
            },
            503,
        )
    return JSONResponse({"status": "ok", "checks": checks, "backup": backup})


async def backup_summary(ctx: Context) -> dict[str, object]:
    """Informational only: a stale or failed backup never makes the server unready.

    This endpoint is public, so failure details (paths, errors) stay in the owner API and logs.
    """
    found = await ctx.backups.listing()
    failure = ctx.backups.last_failure
    age = (times.now() - found[0].taken_at).total_seconds() if found else None
    return {
        "status": "failed" if ctx.backups.failing else "ok" if found else "none",
        "newest_age_seconds": None if age is None else round(age),
        "last_failure_at": None if failure is None else times.iso(failure.at),
    }


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
