"""Our own pages and static files, with cache headers."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from omnichat import sites
from omnichat.errors import NotFound
from omnichat.web.context import context

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
# Our own pages and modules revalidate every time (cheap 304s), so an upgrade is seen at once.
REVALIDATE = "no-cache"
# Every visitor of every customer site loads the widget: cached, but briefly, for upgrades.
WIDGET_CACHE = "public, max-age=300"


class CachedStaticFiles(StaticFiles):
    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = REVALIDATE
        return response


def static_file(
    url: str, name: str, cache: str = REVALIDATE, media_type: str | None = None
) -> Route:
    """A route serving the file static/`name` at `url`."""
    path = STATIC_DIR / name

    async def serve(request: Request) -> Response:
        return FileResponse(path, headers={"Cache-Control": cache}, media_type=media_type)

    return Route(url, serve, methods=["GET", "HEAD"])


WIDGET_PARTS = STATIC_DIR / "widget"
PART_NAME = re.compile(r"^[a-z]+\.js$")


async def widget_part(request: Request) -> Response:
    """A part of the widget loaded on demand (static/widget/NAME.js) as an ES module.

    Customer pages import it from their own origin, and a cross-origin module needs CORS: the
    file is public code, fetched without credentials, so any origin may read it.
    """
    name = request.path_params["name"]
    path = WIDGET_PARTS / name
    if not PART_NAME.match(name) or not path.is_file():
        raise NotFound("no such widget part")
    headers = {"Cache-Control": WIDGET_CACHE, "Access-Control-Allow-Origin": "*"}
    return FileResponse(path, headers=headers, media_type="text/javascript")


async def demo(request: Request) -> Response:
    """A sample customer page embedding the widget of the default tenant's first site."""
    site = await sites.default_site(context(request).db)
    if site is None:
        raise NotFound("There is no site to show: create one on the admin page.")
    template = await asyncio.to_thread((STATIC_DIR / "demo.html").read_text, "utf-8")
    page = template.replace("{{site_key}}", html.escape(site.site_key))
    return HTMLResponse(page, headers={"Cache-Control": REVALIDATE})


routes = [
    static_file("/", "index.html"),
    static_file("/widget.js", "widget.js", cache=WIDGET_CACHE),
    Route("/widget/{name}", widget_part, methods=["GET", "HEAD"]),
    Route("/demo", demo, methods=["GET", "HEAD"]),
    # The installable admin app: its service worker lives at /admin/ so that its scope is the
    # admin page (it shows pushed notifications), and the manifest names the icons.
    static_file("/admin/sw.js", "admin/sw.js", media_type="text/javascript"),
    static_file(
        "/admin/manifest.webmanifest",
        "admin/manifest.webmanifest",
        media_type="application/manifest+json",
    ),
    # The admin page routes in the browser (history.pushState), so every /admin/... path
    # serves the same shell and a deep link survives a reload.
    static_file("/admin", "admin/index.html"),
    static_file("/admin/{path:path}", "admin/index.html"),
    Mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static"),
]
