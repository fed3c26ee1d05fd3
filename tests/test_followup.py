"""The visitor's follow-up form in process: the flow, validation and the limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.agents import agent_socket, call, frames_until
from tests.app_server import AppServer
from tests.escalations import ESCALATION, THANKS, make_site, stored_messages, system_texts
from tests.staff import Account
from tests.timing import UNIT
from tests.visitors import bearer, new_session, next_frame, send, visitor_socket


@pytest.fixture(scope="module")
def site(app: AppServer, owner: Account) -> dict[str, Any]:
    return make_site(app, owner, patience_seconds=0, escalate_seconds=1)


def submit(app: AppServer, token: str, body: Any) -> httpx.Response:
    return app.http.post("/api/v1/widget/followup", json=body, headers=bearer(token))


FORM = {"name": "Ada", "email": "ada@example.com", "phone": None, "message": "Call me back"}


async def test_escalation_offers_the_form_and_a_follow_up_closes_the_conversation(
    app: AppServer, owner: Account, site: dict[str, Any]
) -> None:
    """Escalated, the visitor leaves a follow-up: thanks, closed, and agents see it at once."""
    token = new_session(app, site_key=site["site_key"])["token"]
    async with (
        agent_socket(app, owner.access_token) as (agents, _),
        visitor_socket(app, token) as (ws, _),
    ):
        await send(ws, {"type": "message", "client_id": "c1", "text": "hello?"})
        conversation_id = (await next_frame(ws, "ack"))["message"]["conversation_id"]
        # The escalated status is the widget's cue to show the form.
        await frames_until(
            ws,
            lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "escalated",
            timeout=5 * UNIT,
        )
        form = {**FORM, "phone": "+44 20 7946 0958", "message": "  Please call me back.  "}
        response = submit(app, token, form)
        assert response.status_code == 201, response.text
        followup = response.json()["followup"]
        assert followup["conversation_id"] == conversation_id
        assert (followup["name"], followup["email"]) == ("Ada", "ada@example.com")
        assert followup["phone"] == "+442079460958"
        assert followup["message"] == "Please call me back." and followup["status"] == "new"
        assert response.json()["message"]["text"] == THANKS
        frames = await frames_until(
            ws,
            lambda f: f["type"] == "conversation" and f["conversation"]["status"] == "closed",
            timeout=5 * UNIT,
        )
        assert [f["message"]["text"] for f in frames if f["type"] == "message"][-1] == THANKS
        created = await frames_until(
            agents,
            lambda f: (
                f.get("event") == "followup.created"
                and f["data"]["followup"]["id"] == followup["id"]
            ),
            timeout=5 * UNIT,
        )
    assert created[-1]["data"]["followup"]["message"] == "Please call me back."
    assert system_texts(stored_messages(app, conversation_id))[-2:] == [ESCALATION, THANKS]
    listed = call(app, owner, "GET", "/api/v1/followups", params={"status": "new"})
    assert followup["id"] in [f["id"] for f in listed.json()["followups"]]


def test_the_form_works_before_any_conversation(app: AppServer, site: dict[str, Any]) -> None:
    """Opened from the menu before chatting, the follow-up stands alone: no conversation made."""
    session = new_session(app, site_key=site["site_key"])
    response = submit(app, session["token"], {"phone": "0033 6 12 34 56 78", "message": "Hi"})
    assert response.status_code == 201, response.text
    assert response.json()["followup"]["conversation_id"] is None
    assert response.json()["followup"]["phone"] == "+33612345678"
    assert response.json()["message"] is None
    assert new_session(app, session["token"], site_key=site["site_key"])["conversation"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "Hi"}, "email"),
        ({"email": "", "phone": "", "message": "Hi"}, "email"),
        ({"email": "not-an-address", "message": "Hi"}, "email"),
        ({"email": "a@b", "message": "Hi"}, "email"),
        ({"email": "x" * 250 + "@example.com", "message": "Hi"}, "email"),
        ({"phone": "555 0100", "message": "Hi"}, "phone"),
        ({"phone": "+0 555 010 0123", "message": "Hi"}, "phone"),
        ({"phone": "+1 555 010 0123 4567 8", "message": "Hi"}, "phone"),
        ({"phone": 15550100123, "message": "Hi"}, "phone"),
        ({"email": "ada@example.com", "name": "n" * 101, "message": "Hi"}, "name"),
        ({"email": "ada@example.com"}, "message"),
        ({"email": "ada@example.com", "message": "   "}, "message"),
        ({"email": "ada@example.com", "message": "m" * 4001}, "message"),
    ],
)
def test_invalid_forms_answer_422_naming_the_field(
    app: AppServer, site: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    """Each invalid field gets a 422 whose message names it, and nothing is stored."""
    token = new_session(app, site_key=site["site_key"])["token"]
    response = submit(app, token, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_field" and error["message"].startswith(f"{field}:")


def test_the_form_needs_a_visitor_token(app: AppServer) -> None:
    """Without a valid visitor token the form is refused with 401."""
    response = submit(app, "not-a-token", FORM)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_visitor_may_leave_three_follow_ups_per_ten_minutes(
    app: AppServer, site: dict[str, Any]
) -> None:
    """The fourth follow-up within ten minutes is refused with 429 and a Retry-After."""
    token = new_session(app, site_key=site["site_key"])["token"]
    for n in range(3):
        assert submit(app, token, {**FORM, "message": f"try {n}"}).status_code == 201
    refused = submit(app, token, {**FORM, "message": "one more"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 500 < int(refused.headers["retry-after"]) <= 600
    # Another visitor is not affected.
    other = new_session(app, site_key=site["site_key"])["token"]
    assert submit(app, other, FORM).status_code == 201
