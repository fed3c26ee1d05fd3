"""`/api/v1/sites`: the caller's tenant's sites, for admins."""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from omnichat import sites
from omnichat.sites import Site, fields
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import JSONResponse, path_id, read_json


def site_json(site: Site, base_url: str) -> dict[str, Any]:
    """The contract's Site object; the identity secret is write-only, so only its presence shows."""
    s = site.settings
    src = html.escape(f"{base_url}/widget.js", quote=True)
    return {
        "id": site.id,
        "name": site.name,
        "site_key": site.site_key,
        "allowed_origins": site.allowed_origins,
        "greeting": s.greeting,
        "patience_seconds": s.patience_seconds,
        "patience_text": s.patience_text,
        "escalate_seconds": s.escalate_seconds,
        "escalate_text": s.escalate_text,
        "followup_text": s.followup_text,
        "business_hours": s.business_hours,
        "away_text": s.away_text,
        "auto_close_minutes": s.auto_close_minutes,
        "has_identity_secret": site.has_identity_secret,
        "sms_number": site.sms_number,
        "whatsapp_number": site.whatsapp_number,
        "alert_numbers": s.alert_numbers,
        "alert_emails": s.alert_emails,
        "on_call": s.on_call,
        "alert_webhook_url": s.alert_webhook_url or None,
        "prechat": s.prechat,
        "ratings": s.ratings,
        "auto_assign": s.auto_assign,
        "max_open_per_agent": s.max_open_per_agent,
        "hide_content": s.hide_content,
        "default_country": s.default_country,
        "snippet": f'<script src="{src}" data-site="{site.site_key}" async></script>',
    }


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def list_sites(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    found = await sites.list_sites(ctx.db, staff.tenant_id)
    return JSONResponse({"sites": [site_json(site, _base_url(request)) for site in found]})


async def create_site(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    values = fields.parse(
        await read_json(request),
        production=ctx.settings.production,
        creating=True,
        egress=ctx.alerts.egress,
        country=ctx.settings.sites.default_country or None,
    )
    site = await sites.create_site(
        ctx.db,
        staff.tenant_id,
        values,
        actor_id=staff.id,
        ip=client_ip(request),
        token_id=staff.token_id,
    )
    return JSONResponse({"site": site_json(site, _base_url(request))}, 201)


async def update_site(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request, "admin")
    site_id = path_id(request, "site_id")
    # National numbers are read in the site's country; another tenant's site is a 404 below.
    stored = await sites.site_by_id(ctx.db, site_id)
    server_default = ctx.settings.sites.default_country
    country = (
        stored.phone_country(server_default)
        if stored is not None and stored.tenant_id == staff.tenant_id
        else server_default or None
    )
    changes = fields.parse(
        await read_json(request),
        production=ctx.settings.production,
        creating=False,
        egress=ctx.alerts.egress,
        country=country,
    )
    site = await sites.update_site(
        ctx.db,
        staff.tenant_id,
        site_id,
        changes,
        actor_id=staff.id,
        ip=client_ip(request),
        token_id=staff.token_id,
    )
    return JSONResponse({"site": site_json(site, _base_url(request))})


routes = [
    Route("/api/v1/sites", list_sites, methods=["GET"]),
    Route("/api/v1/sites", create_site, methods=["POST"]),
    Route("/api/v1/sites/{site_id:int}", update_site, methods=["PATCH"]),
]
