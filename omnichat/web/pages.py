"""Our own pages and static files, with cache headers."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
# Our own pages and modules revalidate every time (cheap 304s), so an upgrade is seen at once.
REVALIDATE = "no-cache"


class CachedStaticFiles(StaticFiles):
    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = REVALIDATE
        return response


def static_file(url: str, name: str, cache: str = REVALIDATE) -> Route:
    """A route serving the file static/`name` at `url`."""
    path = STATIC_DIR / name

    async def serve(request: Request) -> Response:
        return FileResponse(path, headers={"Cache-Control": cache})

    return Route(url, serve, methods=["GET", "HEAD"])


routes = [
    static_file("/", "index.html"),
    # The admin page routes in the browser (history.pushState), so every /admin/... path
    # serves the same shell and a deep link survives a reload.
    static_file("/admin", "admin/index.html"),
    static_file("/admin/{path:path}", "admin/index.html"),
    Mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static"),
]
