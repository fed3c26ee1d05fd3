"""Pages a visitor reaches from a reply mail: the hosted chat page and the unsubscribe form.

`GET /chat/{site_key}` is a minimal page embedding the widget, open, for a site with no allowed
origins of its own to link to. `GET /mail/unsubscribe?v&e&s` checks the signed link and shows a
confirm button; only its `POST` (the same signed query) stops the mails, so a mail scanner that
follows links changes nothing.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from omnichat import sites
from omnichat.notify import visitor_mail
from omnichat.web.context import context

NO_STORE = {"Cache-Control": "no-store"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/visitor.css">'
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>",
        status_code=status,
        headers=NO_STORE,
    )


async def hosted_chat(request: Request) -> Response:
    site = await sites.site_by_key(context(request).db, request.path_params["site_key"])
    if site is None:
        return _page("Not found", "<h1>There is no such chat.</h1>", 404)
    name = html.escape(site.name)
    key = html.escape(site.site_key)
    return _page(
        f"Chat with {site.name}",
        f"<h1>Chat with {name}</h1><p>Your conversation opens in the corner of this page.</p>"
        f'<script src="/widget.js" data-site="{key}" data-open async></script>',
    )


def _signed(request: Request) -> int | None:
    query = request.query_params
    return visitor_mail.check_unsubscribe(
        context(request).db.signer, query.get("v", ""), query.get("e", ""), query.get("s", "")
    )


REFUSED = (
    "<h1>This link does not work</h1><p>It was changed or has expired. Use the link in your"
    " latest mail.</p>"
)


async def unsubscribe(request: Request) -> Response:
    visitor_id = _signed(request)
    if visitor_id is None:
        return _page("Link not valid", REFUSED, 400)
    if request.method == "POST":
        await visitor_mail.unsubscribe(context(request).db, visitor_id)
        return _page(
            "Unsubscribed",
            "<h1>You are unsubscribed</h1><p>You will get no more mails about your chats.</p>",
        )
    action = html.escape(f"/mail/unsubscribe?{request.url.query}")
    return _page(
        "Stop reply mails",
        "<h1>Stop reply mails?</h1><p>You will no longer get staff replies to your chats by"
        f' mail.</p><form method="post" action="{action}"><button type="submit">Unsubscribe'
        "</button></form>",
    )


routes = [
    Route("/chat/{site_key}", hosted_chat, methods=["GET", "HEAD"]),
    Route("/mail/unsubscribe", unsubscribe, methods=["GET", "POST"]),
]
