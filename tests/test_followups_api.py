"""The agents' follow-up inbox in process: listing, viewing, archiving, events."""

from __future__ import annotations

import uuid

import pytest

from tests.agents import agent_socket, call
from tests.app_server import AppServer
from tests.staff import Account, create_account, unique_ip
from tests.visitors import bearer, new_session, next_frame


@pytest.fixture(scope="module")
def agent(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


def leave_followup(app: AppServer, message: str, key: str | None = None) -> dict:
    """A new visitor fills in the follow-up form; returns the stored follow-up."""
    address = {"X-Forwarded-For": unique_ip()}
    token = new_session(app, site_key=key, **address)["token"]
    response = app.http.post(
        "/api/v1/widget/followup",
        json={"name": "Ada", "email": "ada@example.com", "phone": "", "message": message},
        headers={**bearer(token), **address},
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["followup"])


def followups(app: AppServer, account: Account, **params: object) -> dict:
    response = call(app, account, "GET", "/api/v1/followups", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(app: AppServer, account: Account, **params: object) -> list[int]:
    return [f["id"] for f in followups(app, account, limit=200, **params)["followups"]]


def test_view_and_archive_move_a_followup_through_the_inbox(app: AppServer, agent: Account) -> None:
    """New follow-ups list first; viewing marks them viewed; archiving hides them by default."""
    made = leave_followup(app, f"Call me back {uuid.uuid4().hex}")
    assert made["id"] in ids(app, agent, status="new")
    assert made["id"] in ids(app, agent)
    viewed = call(app, agent, "POST", f"/api/v1/followups/{made['id']}/view")
    assert viewed.status_code == 200 and viewed.json()["followup"]["status"] == "viewed"
    assert made["id"] not in ids(app, agent, status="new")
    assert made["id"] in ids(app, agent, status="viewed")
    archived = call(app, agent, "POST", f"/api/v1/followups/{made['id']}/archive")
    assert archived.json()["followup"]["status"] == "archived"
    # Viewing an archived follow-up does not bring it back.
    again = call(app, agent, "POST", f"/api/v1/followups/{made['id']}/view")
    assert again.json()["followup"]["status"] == "archived"
    assert made["id"] not in ids(app, agent)
    assert made["id"] in ids(app, agent, status="archived")
    assert made["id"] in ids(app, agent, status="all")
    body = archived.json()["followup"]
    assert set(body) >= {"id", "conversation_id", "name", "email", "phone", "message", "status"}
    assert body["name"] == "Ada" and body["email"] == "ada@example.com"


def test_followups_page_newest_first(app: AppServer, agent: Account) -> None:
    """Pages of two cover every follow-up once, newest first, ending with next null."""
    made = [leave_followup(app, f"page {n}")["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "status": "all", **({"before": cursor} if cursor else {})}
        body = followups(app, agent, **params)
        seen += [f["id"] for f in body["followups"]]
        cursor = body["next"]
        if cursor is None or seen[-1] <= made[0]:
            break
    assert [i for i in seen if i in made] == list(reversed(made))
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"before": "x"}, "before"),
        ({"before": "²"}, "before"),
        ({"before": str(2**64)}, "before"),
    ],
)
def test_bad_followup_parameters_are_named(
    app: AppServer, agent: Account, params: dict, field: str
) -> None:
    """Each invalid listing parameter answers 422 naming it."""
    response = call(app, agent, "GET", "/api/v1/followups", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(field)


async def test_changes_are_events_for_every_agent(
    app: AppServer, owner: Account, agent: Account
) -> None:
    """A new follow-up and its status changes reach agent sockets as events."""
    async with agent_socket(app, owner.access_token) as (ws, _):
        made = leave_followup(app, "event please")
        created = await next_frame(ws, "event")
        while created["event"] != "followup.created":
            created = await next_frame(ws, "event")
        assert created["data"]["followup"]["id"] == made["id"]
        call(app, agent, "POST", f"/api/v1/followups/{made['id']}/view")
        updated = await next_frame(ws, "event")
        assert updated["event"] == "followup.updated"
        assert updated["data"]["followup"]["status"] == "viewed"


def test_unknown_followups_are_404(app: AppServer, agent: Account) -> None:
    """Viewing or archiving an id that does not exist (even past 64 bits) answers 404."""
    for followup_id in (10**9, 10**30):
        for action in ("view", "archive"):
            response = call(app, agent, "POST", f"/api/v1/followups/{followup_id}/{action}")
            assert response.status_code == 404
