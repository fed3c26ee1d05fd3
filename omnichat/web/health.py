"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import functools
import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnichat import times
from omnichat.errors import Forbidden
from omnichat.protocol.redis_hub import RedisHub
from omnichat.settings import MetricsSettings
from omnichat.storage import migrations
from omnichat.web.context import Context, context
from omnichat.web.guard import bearer_token, client_ip
from omnichat.web.responses import NO_STORE, JSONResponse


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    """200 when the database answers, migrations are current, the scheduler runs and the hub is
    connected (Redis, with `hub.redis_url`; the in-process hub always is)."""
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
    # Without Redis no live frame crosses processes: a load balancer should send clients to a
    # process whose hub is connected (HTTP requests would still work, but sockets would only
    # resync again and again).
    hub = ctx.hub
    checks["hub"] = (
        "unavailable" if isinstance(hub, RedisHub) and not hub.connected.is_set() else "ok"
    )
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
    """Prometheus text, for allowed addresses (loopback by default) or the metrics token."""
    ctx = context(request)
    if not may_read_metrics(request, ctx.settings.metrics):
        raise Forbidden(
            "metrics are served only to the addresses in metrics.allow or with metrics.token"
        )
    return Response(
        ctx.metrics.render(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
        headers=NO_STORE,
    )


def may_read_metrics(request: Request, settings: MetricsSettings) -> bool:
    """Whether this caller presents the metrics token or comes from an allowed address.

    The address is `client_ip`: the TCP peer, or, when the peer is a proxy listed in
    server.forwarded_allow_ips, the client that proxy names in X-Forwarded-For (uvicorn keeps the
    rightmost address not itself a trusted proxy). The bare peer would be wrong behind a proxy on
    this host: every request from the internet would then come from 127.0.0.1 and read metrics.
    Anyone else's X-Forwarded-For is ignored, so a client cannot claim to be loopback.
    """
    token = str(settings.token)
    presented = bearer_token(request)
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d
    return any(address in network for network in _networks(tuple(settings.allow)))


@functools.cache
def _networks(allow: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # Checked when the settings were loaded.
    return tuple(ipaddress.ip_network(item, strict=False) for item in allow)


routes = [
    Route("/health/live", live),
    Route("/health/ready", ready),
    Route("/metrics", metrics),
]
