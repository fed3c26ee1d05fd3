"""The on-call rota: alerts go to the contacts of the window covering now, in turn, and to the
flat `alert_numbers` when no window does (read from the alert SMS the server queued)."""

from __future__ import annotations

import random
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from omnichat.chat.on_call import covers
from tests.app_server import AppServer
from tests.escalations import make_site
from tests.mailbox import Mailbox
from tests.servers import query, server_env
from tests.staff import Account, sign_in_owner
from tests.timing import UNIT, eventually
from tests.visitors import bearer, new_session

ZONE = "Pacific/Kiritimati"  # UTC+14: a window read in UTC would be on another day or hour
ALL_DAYS = list(range(7))


@pytest.fixture(scope="module")
def rota_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """An app with alerts unthrottled, so every follow-up sends its alert."""
    data_dir = tmp_path_factory.mktemp("rota") / "data"
    started = AppServer(
        data_dir, server_env(data_dir, OMNICHAT_ALERTS_MIN_INTERVAL_SECONDS="0")
    ).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def owner(rota_app: AppServer) -> Account:
    return sign_in_owner(rota_app)


def number() -> str:
    return f"+1555{random.randrange(10**7):07d}"


def window(name: str, start_hours: float, end_hours: float, **contacts: Any) -> dict[str, Any]:
    """A window every day from `start_hours` to `end_hours` around the current time in ZONE."""
    now = datetime.now(zoneinfo.ZoneInfo(ZONE))
    start = (now + timedelta(hours=start_hours)).strftime("%H:%M")
    end = (now + timedelta(hours=end_hours)).strftime("%H:%M")
    return {"name": name, "days": ALL_DAYS, "start": start, "end": end, **contacts}


def rota_site(app: AppServer, owner: Account, **settings: Any) -> dict[str, Any]:
    hours = {
        "timezone": ZONE,
        "days": {
            d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
    }
    return make_site(app, owner, sms_number=number(), business_hours=hours, **settings)


def follow_up(app: AppServer, site: dict[str, Any]) -> None:
    token = new_session(app, site_key=site["site_key"])["token"]
    form = {"name": "Ada", "email": "ada@example.com", "message": "Call me"}
    posted = app.http.post("/api/v1/widget/followup", json=form, headers=bearer(token))
    assert posted.status_code == 201, posted.text


def alerted(app: AppServer, site: dict[str, Any]) -> list[str]:
    """The numbers the site's alert SMS were queued to, in order."""
    rows = query(
        app,
        "SELECT to_number FROM outbox WHERE kind = 'alert' AND site_id = ? ORDER BY id",
        (site["id"],),
    )
    return [row["to_number"] for row in rows]


def test_only_the_window_covering_now_is_alerted(rota_app: AppServer, owner: Account) -> None:
    """With a window covering now and one later, in the site's time zone, the alert goes to the
    covering window's number only, not the later window's nor the flat alert numbers."""
    now_number, later_number, flat = number(), number(), number()
    site = rota_site(
        rota_app,
        owner,
        alert_numbers=[flat],
        on_call=[
            window("now", -1, 1, numbers=[now_number]),
            window("later", 2, 3, numbers=[later_number]),
        ],
    )
    assert [w["name"] for w in site["on_call"]] == ["now", "later"]
    follow_up(rota_app, site)
    assert alerted(rota_app, site) == [now_number]


def test_a_window_takes_its_contacts_in_turn(rota_app: AppServer, owner: Account) -> None:
    """Two alerts in one window go to its first number, then its second; a third to the first."""
    first, second = number(), number()
    site = rota_site(rota_app, owner, on_call=[window("day", -1, 1, numbers=[first, second])])
    follow_up(rota_app, site)
    follow_up(rota_app, site)
    assert alerted(rota_app, site) == [first, second]
    follow_up(rota_app, site)
    assert alerted(rota_app, site) == [first, second, first]


def test_without_a_covering_window_the_alert_numbers_are_used(
    rota_app: AppServer, owner: Account
) -> None:
    """When no window covers now, or there is no rota, every flat alert number is texted, as
    before the rota existed."""
    flat = [number(), number()]
    site = rota_site(
        rota_app, owner, alert_numbers=flat, on_call=[window("later", 2, 3, numbers=[number()])]
    )
    follow_up(rota_app, site)
    assert sorted(alerted(rota_app, site)) == sorted(flat)
    plain = rota_site(rota_app, owner, alert_numbers=flat)
    assert plain["on_call"] == []
    follow_up(rota_app, plain)
    assert sorted(alerted(rota_app, plain)) == sorted(flat)


def test_on_call_windows_are_checked(rota_app: AppServer, owner: Account) -> None:
    """A bad rota is a 422 naming the window's field, and the stored rota is unchanged."""
    good = {"name": "day", "days": [0, 1], "start": "09:00", "end": "17:00", "numbers": [number()]}
    site = rota_site(rota_app, owner, on_call=[good])
    for bad, field in (
        ("not a list", "on_call"),
        ([good] * 21, "on_call"),
        ([{**good, "start": "9am"}], "on_call[0].start"),
        ([{**good, "start": "24:00"}], "on_call[0].start"),
        ([{**good, "end": "09:00"}], "on_call[0].start"),
        ([{**good, "end": "25:00"}], "on_call[0].end"),
        ([{**good, "days": [7]}], "on_call[0].days"),
        ([{**good, "days": []}], "on_call[0].days"),
        ([good, {**good, "numbers": ["12"]}], "on_call[1].name"),
        ([{**good, "numbers": ["12"]}], "on_call[0].numbers"),
        ([{**good, "numbers": [], "emails": ["nope"]}], "on_call[0].emails"),
        ([{**good, "numbers": []}], "on_call[0].numbers"),
        ([{**good, "extra": 1}], "on_call[0]"),
    ):
        answer = rota_app.http.patch(
            f"/api/v1/sites/{site['id']}", json={"on_call": bad}, headers=owner.headers
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["error"]["message"].startswith(field + ":"), answer.text
    kept = rota_app.http.get("/api/v1/sites", headers=owner.headers).json()["sites"]
    assert next(s for s in kept if s["id"] == site["id"])["on_call"] == site["on_call"]
    crossing = {**good, "start": "22:00", "end": "06:00", "days": [4, 4, 0]}
    saved = rota_app.http.patch(
        f"/api/v1/sites/{site['id']}", json={"on_call": [crossing]}, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["site"]["on_call"] == [{**crossing, "days": [0, 4], "emails": []}]


def test_a_window_mails_its_addresses_in_turn(
    start_app: Callable[..., AppServer],
) -> None:
    """Two alerts in a window with two addresses mail the first, then the second, through a real
    SMTP server."""
    box = Mailbox().start()
    try:
        app = start_app(**box.env(), OMNICHAT_ALERTS_MIN_INTERVAL_SECONDS="0")
        owner = sign_in_owner(app)
        first, second = "first@clinic.example", "second@clinic.example"
        site = rota_site(app, owner, on_call=[window("day", -1, 1, emails=[first, second])])
        follow_up(app, site)
        eventually(lambda: box.to(first), 10 * UNIT, "the first alert mail")
        follow_up(app, site)
        eventually(lambda: box.to(second), 10 * UNIT, "the second alert mail")
        assert len(box.to(first)) == 1
    finally:
        box.stop()


def test_a_window_ending_before_it_starts_crosses_midnight() -> None:
    """A Friday 22:00-06:00 window covers Friday night and Saturday morning, not Friday morning
    nor Saturday night."""
    friday_night = {"name": "n", "days": [4], "start": "22:00", "end": "06:00"}
    assert covers(friday_night, datetime(2026, 12, 11, 23, 0))
    assert covers(friday_night, datetime(2026, 12, 12, 5, 59))
    assert not covers(friday_night, datetime(2026, 12, 12, 6, 0))
    assert not covers(friday_night, datetime(2026, 12, 11, 5, 0))
    assert not covers(friday_night, datetime(2026, 12, 12, 23, 0))
