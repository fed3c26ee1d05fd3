"""The pre-chat form (site setting, identify, prechat_required) and ratings of closed
conversations (once per close, 409 after, shown to staff with an event)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.agents import agent_socket, call, frames_until, visitor_says
from tests.app_server import AppServer
from tests.staff import Account, create_account, unique_ip
from tests.visitors import bearer, new_session, next_frame, send, visitor_socket

PRECHAT = {"enabled": True, "fields": ["name", "email", "phone"], "required": ["name", "email"]}


def make_site(app: AppServer, owner: Account, **fields: Any) -> dict[str, Any]:
    """A site of this test's own, so settings never reach other tests' visitors."""
    body = {"name": f"Clinic {uuid.uuid4().hex[:6]}", **fields}
    answer = call(app, owner, "POST", "/api/v1/sites", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["site"])


def visitor_post(app: AppServer, token: str, path: str, body: dict[str, Any]) -> Any:
    headers = {**bearer(token), "X-Forwarded-For": unique_ip()}
    return app.http.post(f"/api/v1/widget/{path}", json=body, headers=headers)


def message(text: str) -> dict[str, str]:
    return {"client_id": uuid.uuid4().hex, "text": text}


# ---- pre-chat form ----------------------------------------------------------------------------


def test_prechat_defaults_off_and_is_set_and_sent_to_the_widget(
    app: AppServer, owner: Account
) -> None:
    """A new site has the form off and ratings on; PATCH sets both and the widget is told."""
    site = make_site(app, owner)
    assert site["prechat"] == {"enabled": False, "fields": [], "required": []}
    assert site["ratings"] is True
    changed = call(
        app, owner, "PATCH", f"/api/v1/sites/{site['id']}", json={"prechat": PRECHAT, "ratings": 0}
    )
    assert changed.status_code == 422 and changed.json()["error"]["message"].startswith("ratings:")
    body = {"prechat": {**PRECHAT, "fields": ["phone", "email", "name"]}, "ratings": False}
    changed = call(app, owner, "PATCH", f"/api/v1/sites/{site['id']}", json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["site"]["prechat"] == PRECHAT  # fields kept in form order
    widget_site = new_session(app, site_key=site["site_key"])["site"]
    assert widget_site["prechat"] == PRECHAT and widget_site["ratings"] is False


@pytest.mark.parametrize(
    ("prechat", "field"),
    [
        ("yes", "prechat"),
        ({"enabled": "yes", "fields": ["name"]}, "prechat.enabled"),
        ({"enabled": True, "fields": ["name", "age"]}, "prechat.fields"),
        ({"enabled": True, "fields": ["name"], "required": ["email"]}, "prechat.required"),
        ({"enabled": True, "fields": []}, "prechat.fields"),
        ({"enabled": True, "fields": ["name"], "extra": 1}, "prechat"),
    ],
)
def test_bad_prechat_settings_are_422_naming_the_field(
    app: AppServer, owner: Account, prechat: Any, field: str
) -> None:
    """Each part of the pre-chat setting is checked; nothing is stored when one is wrong."""
    site = make_site(app, owner)
    answer = call(app, owner, "PATCH", f"/api/v1/sites/{site['id']}", json={"prechat": prechat})
    assert answer.status_code == 422
    assert answer.json()["error"]["message"].startswith(field + ":")
    listed = call(app, owner, "GET", "/api/v1/sites").json()["sites"]
    assert next(s for s in listed if s["id"] == site["id"])["prechat"]["enabled"] is False


def test_agents_cannot_change_prechat(app: AppServer, owner: Account) -> None:
    """Site settings stay an admin's: an agent's PATCH is 403."""
    site = make_site(app, owner)
    agent = create_account(app, owner, "agent")
    answer = call(app, agent, "PATCH", f"/api/v1/sites/{site['id']}", json={"prechat": PRECHAT})
    assert answer.status_code == 403


async def test_first_message_waits_for_required_fields(app: AppServer, owner: Account) -> None:
    """Before identify gives the required fields, a first message is 422 prechat_required over
    HTTP and an error frame on the socket; after it, the message is stored."""
    site = make_site(app, owner, prechat=PRECHAT)
    token = new_session(app, site_key=site["site_key"])["token"]
    refused = visitor_post(app, token, "messages", message("hi"))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "prechat_required"
    assert refused.json()["error"]["message"].startswith("name:")
    async with visitor_socket(app, token) as (ws, _):
        await send(ws, {"type": "message", "client_id": "c1", "text": "hi"})
        error = await next_frame(ws, "error")
        assert error["code"] == "prechat_required" and error["client_id"] == "c1"

        given = visitor_post(
            app, token, "identify", {"name": "Maria", "email": "maria@example.org"}
        )
        assert given.status_code == 200, given.text
        assert given.json()["visitor"]["verified"] is False
        await send(ws, {"type": "message", "client_id": "c1", "text": "hi"})
        ack = await next_frame(ws, "ack")
    conversation = call(
        app, owner, "GET", f"/api/v1/conversations/{ack['message']['conversation_id']}"
    ).json()["conversation"]
    assert conversation["visitor"]["name"] == "Maria"
    assert conversation["visitor"]["email"] == "maria@example.org"
    assert conversation["visitor"]["verified"] is False


def test_identify_checks_email_and_phone_and_stores_the_phone(
    app: AppServer, owner: Account
) -> None:
    """Identify refuses a bad email or phone naming the field, and keeps an E.164 phone."""
    token = new_session(app)["token"]
    for body, field in (({"email": "not-an-address"}, "email"), ({"phone": "12"}, "phone")):
        answer = visitor_post(app, token, "identify", body)
        assert answer.status_code == 422
        assert answer.json()["error"]["message"].startswith(field + ":")
    answer = visitor_post(app, token, "identify", {"name": "Ana", "phone": "+1 (555) 010-0123"})
    assert answer.json()["visitor"]["phone"] == "+15550100123"
    _, said = visitor_says(app, "phone given", token)
    seen = call(app, owner, "GET", f"/api/v1/conversations/{said['conversation_id']}").json()
    assert seen["conversation"]["visitor"]["phone"] == "+15550100123"


def test_a_visitor_already_chatting_is_not_stopped_by_a_new_form(
    app: AppServer, owner: Account
) -> None:
    """Turning the form on does not refuse visitors whose conversation already started."""
    site = make_site(app, owner)
    token, _ = visitor_says(app, "before the form", key=site["site_key"])
    call(app, owner, "PATCH", f"/api/v1/sites/{site['id']}", json={"prechat": PRECHAT})
    assert visitor_post(app, token, "messages", message("after")).status_code == 201


# ---- ratings ----------------------------------------------------------------------------------


def close(app: AppServer, owner: Account, conversation_id: int) -> None:
    answer = call(app, owner, "POST", f"/api/v1/conversations/{conversation_id}/close")
    assert answer.status_code == 200, answer.text


async def test_rating_once_per_close_with_an_event_for_agents(
    app: AppServer, owner: Account
) -> None:
    """A closed conversation is rated once (409 after); agents get conversation.updated and
    every read of the conversation shows the rating; after a reopen and close, again once."""
    token, said = visitor_says(app, "rate me")
    conversation_id = said["conversation_id"]
    assert visitor_post(app, token, "rating", {"score": 5}).status_code == 404  # still open
    close(app, owner, conversation_id)
    async with agent_socket(app, owner.access_token) as (agent, _):
        rated = visitor_post(app, token, "rating", {"score": 4, "comment": " Very kind "})
        assert rated.status_code == 201, rated.text
        assert rated.json()["rating"]["score"] == 4

        def rating_event(frame: dict[str, Any]) -> bool:
            data = frame.get("data", {}).get("conversation", {})
            return bool(frame.get("event") == "conversation.updated" and data.get("rating"))

        event = (await frames_until(agent, rating_event))[-1]
    rating = event["data"]["conversation"]["rating"]
    assert rating["score"] == 4 and rating["comment"] == "Very kind" and rating["created_at"]
    again = visitor_post(app, token, "rating", {"score": 1})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    shown = call(app, owner, "GET", f"/api/v1/conversations/{conversation_id}").json()
    assert shown["conversation"]["rating"] == rating
    listed = call(app, owner, "GET", "/api/v1/conversations?status=closed").json()
    assert any(c["rating"] == rating for c in listed["conversations"])

    call(app, owner, "POST", f"/api/v1/conversations/{conversation_id}/reopen")
    close(app, owner, conversation_id)
    assert visitor_post(app, token, "rating", {"score": 2, "comment": None}).status_code == 201
    assert visitor_post(app, token, "rating", {"score": 3}).status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "score"),
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": True}, "score"),
        ({"score": 4.5}, "score"),
        ({"score": 3, "comment": 7}, "comment"),
        ({"score": 3, "comment": "x" * 1001}, "comment"),
    ],
)
def test_bad_ratings_are_422_naming_the_field(
    app: AppServer, owner: Account, body: dict[str, Any], field: str
) -> None:
    """Score 1 to 5 and an optional comment: anything else is 422, and nothing is stored."""
    token, said = visitor_says(app, "bad rating")
    close(app, owner, said["conversation_id"])
    answer = visitor_post(app, token, "rating", body)
    assert answer.status_code == 422
    assert answer.json()["error"]["message"].startswith(field + ":")
    shown = call(app, owner, "GET", f"/api/v1/conversations/{said['conversation_id']}").json()
    assert shown["conversation"]["rating"] is None


def test_rating_needs_a_closed_conversation_a_token_and_ratings_on(
    app: AppServer, owner: Account
) -> None:
    """No conversation is 404, no token 401, and a site with ratings off answers 403."""
    fresh = new_session(app)["token"]
    assert visitor_post(app, fresh, "rating", {"score": 5}).status_code == 404
    assert app.http.post("/api/v1/widget/rating", json={"score": 5}).status_code == 401
    site = make_site(app, owner, ratings=False)
    token, said = visitor_says(app, "no ratings here", key=site["site_key"])
    close(app, owner, said["conversation_id"])
    refused = visitor_post(app, token, "rating", {"score": 5})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ratings_off"
