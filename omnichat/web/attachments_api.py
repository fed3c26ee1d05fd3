"""Files: uploads by visitors and staff, fresh links to a file, and serving a signed link.

A served file can run nothing: its type is the one sniffed at upload, browsers are told not to
guess another (`nosniff`), a sandboxing CSP applies even when it is opened directly, and only
images are shown inline; everything else downloads under its cleaned name.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from omnichat.chat import attachments, filetypes, visitors
from omnichat.chat.attachments import Attachment, Uploader
from omnichat.chat.visitors import Visitor
from omnichat.errors import Forbidden, NotFound, OmnichatError
from omnichat.ids import digits
from omnichat.sites import Site
from omnichat.web.context import context
from omnichat.web.guard import bearer_token, require_staff
from omnichat.web.responses import JSONResponse, path_id
from omnichat.web.uploads import read_file

FILE_CSP = "sandbox; default-src 'none'"
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class UnsupportedType(OmnichatError):
    status, code = 415, "unsupported_type"


class RangeNotSatisfiable(OmnichatError):
    status, code = 416, "range_not_satisfiable"


async def _visitor(request: Request) -> tuple[Visitor, Site]:
    ctx = context(request)
    return await visitors.authenticate(
        ctx.db, bearer_token(request), request.headers.get("origin"), ctx.settings.production
    )


async def _upload(request: Request, uploader: Uploader) -> JSONResponse:
    ctx = context(request)
    limits = ctx.settings.attachments
    upload = await read_file(request, limits.max_bytes, filetypes.HEAD_BYTES)
    try:
        kind = filetypes.sniff(upload.head)
        if not filetypes.allowed(kind, limits.allowed_types):
            shown = kind or "unknown"
            raise UnsupportedType(f"files of this type ({shown}) cannot be sent")
        assert kind is not None
        name = filetypes.clean_name(upload.name)
        stored = await attachments.store(ctx.db, uploader, name, kind, upload.spool)
    finally:
        upload.spool.close()
    return JSONResponse({"attachment": stored.to_json()}, 201)


async def visitor_upload(request: Request) -> JSONResponse:
    """`POST /api/v1/widget/attachments`: a visitor's file, within its rate and daily bytes."""
    ctx = context(request)
    visitor, site = await _visitor(request)
    limits = ctx.settings.attachments
    await attachments.check_quota(
        ctx.db, visitor.id, limits.uploads_per_minute_per_visitor, limits.daily_bytes_per_visitor
    )
    return await _upload(request, Uploader(site.tenant_id, visitor_id=visitor.id))


async def visitor_attachment(request: Request) -> JSONResponse:
    """`GET /api/v1/widget/attachments/{id}`: one of the visitor's files, with a fresh link."""
    visitor, _ = await _visitor(request)
    found = await attachments.for_visitor(context(request).db, visitor.id, path_id(request))
    return _one(found)


async def staff_upload(request: Request) -> JSONResponse:
    """`POST /api/v1/attachments`: a staff member's file."""
    staff = await require_staff(request)
    return await _upload(request, Uploader(staff.tenant_id, user_id=staff.id))


async def staff_attachment(request: Request) -> JSONResponse:
    """`GET /api/v1/attachments/{id}`: a file of the caller's tenant, with a fresh link."""
    staff = await require_staff(request)
    found = await attachments.for_staff(context(request).db, staff.tenant_id, path_id(request))
    return _one(found)


def _one(found: Attachment | None) -> JSONResponse:
    if found is None:
        raise NotFound("no such file")
    return JSONResponse({"attachment": found.to_json()})


async def serve(request: Request) -> Response:
    """`GET /api/v1/files/{id}?expires=&signature=`: the file, whole or one byte range."""
    ctx = context(request)
    attachment_id = path_id(request)
    expires = digits(request.query_params.get("expires", ""), 0)
    signature = request.query_params.get("signature", "")
    if expires is None or not attachments.check_link(
        ctx.db.signer, attachment_id, expires, signature
    ):
        raise Forbidden("this file link is not valid", code="invalid_link")
    if expires < time.time():
        raise Forbidden("this file link has expired; reload to get a new one", code="link_expired")
    stored = await attachments.served(ctx.db, attachment_id)
    if stored is None:
        raise NotFound("no such file (it may have expired)")
    start, end = _range(request.headers.get("range"), stored.size)
    partial = (start, end) != (0, stored.size - 1)
    headers = {
        "Content-Length": str(end - start + 1),
        "Content-Disposition": disposition(stored.name, filetypes.is_image(stored.type)),
        "Content-Security-Policy": FILE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
        "Accept-Ranges": "bytes",
    }
    if partial:
        headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    media_type = stored.type + ("; charset=utf-8" if stored.type == "text/plain" else "")
    return StreamingResponse(
        attachments.read(ctx.db, attachment_id, start, end),
        206 if partial else 200,
        headers,
        media_type,
    )


def _range(header: str | None, size: int) -> tuple[int, int]:
    """The first and last byte a `Range: bytes=A-B` header asks for (one range; others whole)."""
    whole = (0, size - 1)
    if not header:
        return whole
    match = RANGE.match(header.strip())
    if match is None:
        return whole  # several ranges or another unit: the whole file, as RFC 9110 allows
    first, last = match.groups()
    if not first and not last:
        return whole
    if not first:
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(f"the file has {size} bytes")
    return start, end


def disposition(name: str, inline: bool) -> str:
    """`Content-Disposition` with an ASCII fallback name and the UTF-8 one (RFC 6266)."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


widget_routes = [
    Route("/attachments", visitor_upload, methods=["POST"]),
    Route("/attachments/{id:int}", visitor_attachment, methods=["GET"]),
]
routes = [
    Route("/api/v1/attachments", staff_upload, methods=["POST"]),
    Route("/api/v1/attachments/{id:int}", staff_attachment, methods=["GET"]),
    Route("/api/v1/files/{id:int}", serve, methods=["GET"]),
]
