"""`/api/v1/backups`: the installation's owners see the backups and download a fresh one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from omnichat import times
from omnichat.accounts import audit
from omnichat.accounts.staff import Staff
from omnichat.errors import Forbidden
from omnichat.storage import backups
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import NO_STORE, JSONResponse, error_response

CHUNK_BYTES = 1 << 20


async def require_installation_owner(request: Request) -> Staff:
    """An owner of the first tenant: a backup holds every tenant's data, not just the caller's."""
    staff = await require_staff(request, "owner")
    if staff.tenant_id != await backups.installation_tenant_id(context(request).db):
        raise Forbidden(
            "backups hold every tenant's data; only the installation's owners have them"
        )
    return staff


async def list_backups(request: Request) -> JSONResponse:
    ctx = context(request)
    await require_installation_owner(request)
    found = await ctx.backups.listing()
    failure = ctx.backups.last_failure
    body = {
        "backups": [
            {"name": item.name, "size": item.size, "created_at": times.iso(item.taken_at)}
            for item in found
        ],
        "interval_hours": ctx.backups.interval_hours,
        "keep": ctx.backups.keep,
        "failing": ctx.backups.failing,
        "last_failure": None
        if failure is None
        else {"at": times.iso(failure.at), "message": failure.message},
    }
    return JSONResponse(body)


async def download(request: Request) -> Response:
    ctx = context(request)
    staff = await require_installation_owner(request)
    # Recorded first, so the downloaded copy itself shows who took it.
    await audit.record_alone(
        ctx.db,
        tenant_id=staff.tenant_id,
        actor_id=staff.id,
        action="backup.download",
        ip=client_ip(request),
        token_id=staff.token_id,
    )
    suffix = backups.suffix(ctx.backups.database)
    name = f"omnichat-{times.now():{backups.STAMP}}.{suffix}"
    try:
        handle = await ctx.backups.open_fresh()
    except (backups.BackupError, OSError) as exc:
        return error_response(500, "backup_failed", f"The backup failed: {exc}")
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(os.fstat(handle.fileno()).st_size),
    }
    media_type = "application/vnd.sqlite3" if suffix == "sqlite" else "application/octet-stream"
    return StreamingResponse(_chunks(handle), media_type=media_type, headers=headers)


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


routes = [
    Route("/api/v1/backups", list_backups, methods=["GET"]),
    Route("/api/v1/backups", download, methods=["POST"]),
]
