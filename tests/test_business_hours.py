"""Business hours: the weekly schedule in the site's zone, and what a visitor sees outside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from omnichat.chat.business_hours import is_open
from tests.agents import frames_until, quiet
from tests.app_server import AppServer
from tests.escalations import GREETING, make_site, stored_messages
from tests.staff import Account
from tests.timing import UNIT
from tests.visitors import new_session, next_frame, send, visitor_socket

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OFFICE = {
    "timezone": "Europe/Paris",
    "days": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": [["10:00", "24:00"]]},
}
AWAY = "We are closed right now; leave us your details."


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Monday 2 March 2026: Paris is UTC+1.
        (utc(2026, 3, 2, 7, 59), False),
        (utc(2026, 3, 2, 8, 0), True),
        (utc(2026, 3, 2, 10, 59), True),
        (utc(2026, 3, 2, 11, 30), False),  # lunch
        (utc(2026, 3, 2, 15, 59), True),
        (utc(2026, 3, 2, 16, 0), False),  # the end is excluded
        (utc(2026, 3, 3, 9, 0), False),  # Tuesday: not in the schedule
        # Monday 30 March 2026, after the switch to summer time: Paris is UTC+2.
        (utc(2026, 3, 30, 7, 0), True),
        (utc(2026, 3, 30, 15, 0), False),
        # Saturday until midnight, local time.
        (utc(2026, 3, 7, 22, 59), True),
        (utc(2026, 3, 7, 23, 0), False),
    ],
)
def test_schedule_follows_the_site_zone(moment: datetime, expected: bool) -> None:
    """Ranges are local wall-clock times, start included, end excluded, DST followed."""
    assert is_open(OFFICE, moment) is expected


@pytest.mark.parametrize(
    "hours",
    [None, {"timezone": "Mars/Olympus", "days": {}}, {"days": {}}, {"timezone": "UTC", "days": 3}],
)
def test_no_or_unreadable_schedule_is_open(hours: Any) -> None:
    """No schedule means always open, and so does one that cannot be read (never turn away)."""
    assert is_open(hours, utc(2026, 3, 3, 3, 0)) is True


async def test_outside_hours_the_visitor_gets_the_away_text_and_the_form(
    app: AppServer, owner: Account
) -> None:
    """Closed all week: no greeting, the away text answers at once and the form is offered."""
    closed = {"timezone": "Pacific/Auckland", "days": {}}
    site = make_site(
        app, owner, business_hours=closed, away_text=AWAY, patience_seconds=1, escalate_seconds=2
    )
    token = new_session(app, site_key=site["site_key"])["token"]
    async with visitor_socket(app, token) as (ws, _):
        await send(ws, {"type": "message", "client_id": "c1", "text": "hello?"})
        ack = await next_frame(ws, "ack")
        frames = await frames_until(
            ws,
            lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "escalated",
            timeout=2 * UNIT,
        )
        frames += await quiet(ws, 2.5 * UNIT)
    assert [f["message"]["text"] for f in frames if f["type"] == "message"] == [AWAY]
    found = stored_messages(app, ack["message"]["conversation_id"])
    assert [(m["sender"], m["text"]) for m in found] == [("visitor", "hello?"), ("system", AWAY)]


async def test_inside_hours_nothing_changes(app: AppServer, owner: Account) -> None:
    """Open all week: the greeting, the conversation stays open, no away text."""
    always = {"timezone": "Europe/Paris", "days": {day: [["00:00", "24:00"]] for day in WEEKDAYS}}
    site = make_site(
        app, owner, business_hours=always, away_text=AWAY, patience_seconds=0, escalate_seconds=0
    )
    token = new_session(app, site_key=site["site_key"])["token"]
    async with visitor_socket(app, token) as (ws, _):
        await send(ws, {"type": "message", "client_id": "c1", "text": "hello?"})
        ack = await next_frame(ws, "ack")
        later = await quiet(ws, 1.5 * UNIT)
    assert later == []
    found = stored_messages(app, ack["message"]["conversation_id"])
    assert [(m["sender"], m["text"]) for m in found] == [
        ("system", GREETING),
        ("visitor", "hello?"),
    ]
    session = new_session(app, token, site_key=site["site_key"])
    assert session["conversation"]["status"] == "open"
