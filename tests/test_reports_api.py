"""The reports endpoints on the running app: facts kept live by the chat, validation, roles,
tenants and the CSV's formula guard."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from omnichat import times
from tests.agents import reply, visitor_says
from tests.app_server import AppServer
from tests.servers import query
from tests.staff import Account, create_account, other_tenant_account

TODAY = times.now_iso()[:10]


def new_site(app: AppServer, owner: Account, name: str | None = None) -> dict[str, Any]:
    """A site of this test's own (steps off), so figures filtered by it count only its work."""
    body = {"name": name or f"Reports {uuid.uuid4().hex[:6]}", "patience_seconds": 0}
    response = app.http.post("/api/v1/sites", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    site: dict[str, Any] = response.json()["site"]
    quiet = {"patience_seconds": 0, "escalate_seconds": 0}
    app.http.patch(f"/api/v1/sites/{site['id']}", json=quiet, headers=owner.headers)
    return site


def report(app: AppServer, account: Account, name: str, **params: Any) -> Any:
    response = app.http.get(f"/api/v1/reports/{name}", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json() if name != "export.csv" else response.text


def facts(app: AppServer, conversation_id: int) -> dict[str, Any]:
    return query(app, "SELECT * FROM conversations WHERE id = :id", {"id": conversation_id})[0]


def test_facts_are_kept_as_the_conversation_happens(app: AppServer, owner: Account) -> None:
    """The first visitor message, the first public reply (not the note before it), the first
    close (not the later one) and the counts are written with the events that set them."""
    site = new_site(app, owner)
    token, first = visitor_says(app, "hello", key=site["site_key"])
    conversation_id = first["conversation_id"]
    assert reply(app, owner, conversation_id, "internal", private=True).status_code == 201
    answer = reply(app, owner, conversation_id, "hi there").json()["message"]
    closed = app.http.post(f"/api/v1/conversations/{conversation_id}/close", headers=owner.headers)
    assert closed.status_code == 200
    row = facts(app, conversation_id)
    first_close = row["first_closed_at"]
    visitor_says(app, "me again", token=token, key=site["site_key"])  # reopens it
    app.http.post(f"/api/v1/conversations/{conversation_id}/close", headers=owner.headers)
    row = facts(app, conversation_id)
    assert row["first_visitor_message_at"] == first["created_at"]
    assert row["first_response_at"] == answer["created_at"]
    assert row["first_responder_id"] == owner.user["id"]
    assert row["first_closed_at"] == first_close and row["closed_at"] > first_close
    assert (row["visitor_messages"], row["agent_messages"]) == (2, 1)
    summary = report(app, owner, "summary", site=site["id"], **{"from": TODAY, "to": TODAY})
    assert summary["conversations"] == 1 and summary["missed"] == 0
    assert summary["messages"] == {"visitor": 2, "agent": 1}
    assert summary["first_response_seconds"]["median"] is not None


def test_timeseries_has_every_interval(app: AppServer, owner: Account) -> None:
    """Every day (or hour) of the range is a point, empty ones 0 for counts and null for medians."""
    site = new_site(app, owner)
    visitor_says(app, "hello", key=site["site_key"])
    days = {"from": "2026-01-01", "to": "2026-01-31", "site": site["id"]}
    points = report(app, owner, "timeseries", metric="conversations", **days)["points"]
    assert len(points) == 31 and {p["value"] for p in points} == {0}
    assert points[0]["start"] == "2026-01-01T00:00:00.000Z"
    medians = report(app, owner, "timeseries", metric="first_response", interval="hour", **days)
    assert len(medians["points"]) == 31 * 24 and {p["value"] for p in medians["points"]} == {None}
    today = report(app, owner, "timeseries", site=site["id"], **{"from": TODAY, "to": TODAY})
    assert [p["value"] for p in today["points"]] == [1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"tz": "../etc/passwd"}, "tz"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": "20260101"}, "from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),
        ({"channel": "fax"}, "channel"),
        ({"site": "abc"}, "site"),
        ({"metric": "revenue"}, "metric"),
        ({"interval": "minute"}, "interval"),
    ],
)
def test_bad_queries_are_422_naming_the_field(
    app: AppServer, owner: Account, params: dict[str, str], field: str
) -> None:
    """A bad zone, date, range, filter, metric or interval is refused naming the field."""
    response = app.http.get("/api/v1/reports/timeseries", params=params, headers=owner.headers)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]


def test_agents_are_refused_and_admins_allowed(app: AppServer, owner: Account) -> None:
    """Reports are for admins: an agent gets 403 on every endpoint, an admin 200."""
    agent = create_account(app, owner, "agent")
    admin = create_account(app, owner, "admin")
    for name in ("summary", "timeseries", "agents", "export.csv"):
        assert app.http.get(f"/api/v1/reports/{name}", headers=agent.headers).status_code == 403
        assert app.http.get(f"/api/v1/reports/{name}", headers=admin.headers).status_code == 200
        assert app.http.get(f"/api/v1/reports/{name}").status_code == 401


def test_other_tenants_see_nothing_of_ours(app: AppServer, owner: Account) -> None:
    """Another tenant's admin counts none of our conversations and cannot filter by our ids."""
    site = new_site(app, owner)
    visitor_says(app, "hello", key=site["site_key"])
    stranger = other_tenant_account(app)
    day = {"from": TODAY, "to": TODAY}
    assert report(app, stranger, "summary", **day)["conversations"] == 0
    assert report(app, stranger, "export.csv", **day).count("\r\n") == 1
    assert [a["id"] for a in report(app, stranger, "agents", **day)["agents"]] == [
        stranger.user["id"]
    ]
    for params in ({"site": site["id"]}, {"agent": owner.user["id"]}):
        response = app.http.get("/api/v1/reports/summary", params=params, headers=stranger.headers)
        assert response.status_code == 404


def test_csv_rows_are_defused_for_spreadsheets(app: AppServer, owner: Account) -> None:
    """One row per conversation; a site name that looks like a formula is quoted."""
    site = new_site(app, owner, name="=HYPERLINK(1)")
    visitor_says(app, "hello", key=site["site_key"])
    text = report(app, owner, "export.csv", site=site["id"], **{"from": TODAY, "to": TODAY})
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == 1
    assert rows[0]["site"] == "'=HYPERLINK(1)"
    assert rows[0]["visitor_messages"] == "1" and rows[0]["missed"] == "0"
