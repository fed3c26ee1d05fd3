"""Visitor context: what the widget's page says on session and navigation, the browser and OS
the server reads from the User-Agent, and the pages staff see, newest first, at most 50."""

from __future__ import annotations

from typing import Any

import pytest

from omnichat.chat.visitor_context import browser_and_os
from tests.agents import agent_socket, call, frames_until, visitor_says
from tests.app_server import AppServer
from tests.staff import Account, other_tenant_account, unique_ip
from tests.visitors import bearer, default_site_key, next_frame, send, visitor_socket

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
CONTEXT = {
    "url": "https://clinic.example/booking",
    "title": "Book an appointment",
    "referrer": "https://search.example/?q=clinic",
    "language": "es-MX",
    "timezone": "America/Mexico_City",
}


def session(app: AppServer, **body: Any) -> Any:
    headers = {"X-Forwarded-For": unique_ip(), "User-Agent": CHROME_WINDOWS}
    body.setdefault("site_key", default_site_key(app))
    body.setdefault("token", None)
    return app.http.post("/api/v1/widget/session", json=body, headers=headers)


def conversation(app: AppServer, owner: Account, conversation_id: int) -> Any:
    return call(app, owner, "GET", f"/api/v1/conversations/{conversation_id}").json()[
        "conversation"
    ]


def pages(app: AppServer, owner: Account, conversation_id: int) -> Any:
    return call(app, owner, "GET", f"/api/v1/conversations/{conversation_id}/pages").json()["pages"]


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (CHROME_WINDOWS, ("Chrome 120", "Windows")),
        (SAFARI_IPHONE, ("Safari 17", "iOS")),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox 121", "Linux"),
        ),
        (CHROME_WINDOWS + " Edg/120.0.2210.91", ("Edge 120", "Windows")),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
            " SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            ("Samsung Internet 23", "Android"),
        ),
        ("curl/8.5.0", (None, None)),
        ("", (None, None)),
    ],
)
def test_user_agents_read_as_browser_and_os(agent: str, expected: tuple[str, str]) -> None:
    """The main browsers and systems are named; anything else is unknown, not a guess."""
    assert browser_and_os(agent) == expected


def test_session_context_reaches_staff_with_browser_and_os(app: AppServer, owner: Account) -> None:
    """The page's context and the User-Agent's browser and OS show in the visitor's context."""
    answer = session(app, context=CONTEXT)
    assert answer.status_code == 200, answer.text
    _, message = visitor_says(app, "hello with context", answer.json()["token"])
    seen = conversation(app, owner, message["conversation_id"])["visitor"]["context"]
    assert seen == {**CONTEXT, "browser": "Chrome 120", "os": "Windows"}
    assert [page["url"] for page in pages(app, owner, message["conversation_id"])] == [
        CONTEXT["url"]
    ]


def test_a_visitor_without_context_has_null_fields(app: AppServer, owner: Account) -> None:
    """A visitor whose page said nothing has every context field null, and no pages."""
    _, message = visitor_says(app, "no context")
    seen = conversation(app, owner, message["conversation_id"])
    assert seen["visitor"]["context"] == dict.fromkeys(
        ("url", "title", "referrer", "language", "timezone", "browser", "os")
    )
    assert pages(app, owner, message["conversation_id"]) == []


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"url": "https://a.example/" + "x" * 2048}, "context.url"),
        ({"url": "javascript:alert(1)"}, "context.url"),
        ({"referrer": "ftp://a.example/"}, "context.referrer"),
        ({"title": "t" * 301}, "context.title"),
        ({"language": 5}, "context.language"),
        ({"timezone": "z" * 65}, "context.timezone"),
        ("https://a.example/", "context"),
    ],
)
def test_bad_context_is_422_naming_the_field(app: AppServer, context: Any, field: str) -> None:
    """Each context field is checked; the 422 names it and no visitor is made."""
    answer = session(app, context=context)
    assert answer.status_code == 422
    assert answer.json()["error"]["message"].startswith(field + ":")


async def test_page_frames_list_newest_first_capped_at_50(app: AppServer, owner: Account) -> None:
    """Navigation frames add pages newest first, keep the 50 newest and update the context."""
    token = session(app, context={"url": "https://clinic.example/0"}).json()["token"]
    _, message = visitor_says(app, "navigating", token)
    async with (
        agent_socket(app, owner.access_token) as (agent, _),
        visitor_socket(app, token) as (ws, _),
    ):
        for n in range(1, 56):
            await send(ws, {"type": "page", "url": f"https://clinic.example/{n}", "title": f"P{n}"})
        await send(ws, {"type": "ping"})
        await next_frame(ws, "pong")

        def last_page(frame: dict[str, Any]) -> bool:
            data = frame.get("data", {})
            url = data.get("conversation", {}).get("visitor", {}).get("context", {}).get("url")
            return bool(url == "https://clinic.example/55")

        await frames_until(agent, last_page)
    listed = pages(app, owner, message["conversation_id"])
    assert len(listed) == 50
    assert [page["url"] for page in listed[:2]] == [
        "https://clinic.example/55",
        "https://clinic.example/54",
    ]
    assert listed[0]["title"] == "P55" and listed[-1]["url"] == "https://clinic.example/6"
    assert conversation(app, owner, message["conversation_id"])["visitor"]["context"]["title"] == (
        "P55"
    )


async def test_bad_page_frames_get_an_error_frame(app: AppServer) -> None:
    """A page frame without an http(s) URL is answered with an error frame; the socket stays."""
    token = session(app).json()["token"]
    async with visitor_socket(app, token) as (ws, _):
        for frame in ({"type": "page"}, {"type": "page", "url": "data:text/html,x"}):
            await send(ws, frame)
            error = await next_frame(ws, "error")
            assert error["code"] == "invalid_field" and error["message"].startswith("url:")
        await send(ws, {"type": "ping"})
        await next_frame(ws, "pong")


def test_pages_of_another_tenant_are_404(app: AppServer, owner: Account) -> None:
    """Another tenant's staff get 404 for a conversation's pages; an unknown id too."""
    token = session(app, context=CONTEXT).json()["token"]
    _, message = visitor_says(app, "private pages", token)
    stranger = other_tenant_account(app, "agent")
    path = f"/api/v1/conversations/{message['conversation_id']}/pages"
    assert call(app, stranger, "GET", path).status_code == 404
    assert call(app, owner, "GET", "/api/v1/conversations/999999999/pages").status_code == 404
    assert app.http.get(path, headers=bearer(token)).status_code == 401
