"""Outgoing webhooks against the app, delivered to a real receiver on loopback (allowed by
`egress.allow_hosts` for this module's app)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from omnichat.egress import Egress
from omnichat.errors import Invalid
from omnichat.webhooks import endpoints
from tests.agents import call, reply, visitor_says
from tests.app_server import AppServer
from tests.servers import server_env
from tests.staff import Account, create_account, other_tenant_account, sign_in_owner
from tests.timing import UNIT, eventually
from tests.webhook_receiver import Receiver, verify

FAST = {
    "OMNICHAT_EGRESS_ALLOW_HOSTS": "127.0.0.1",
    "OMNICHAT_WEBHOOKS_TIMEOUT_SECONDS": "0.5",
    "OMNICHAT_WEBHOOKS_RETRY_BASE_SECONDS": "0.05",
    "OMNICHAT_WEBHOOKS_RETRY_MAX_SECONDS": "0.2",
    "OMNICHAT_WEBHOOKS_CIRCUIT_FAILURES": "3",
    "OMNICHAT_WEBHOOKS_CIRCUIT_PAUSE_SECONDS": "1.5",
}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """An app whose webhooks may reach loopback, with short timeouts and retries."""
    data_dir = tmp_path_factory.mktemp("hooks") / "data"
    started = AppServer(data_dir, server_env(data_dir, **FAST)).start()
    headers = sign_in_owner(started).headers
    site = started.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    quiet = {"patience_seconds": 0, "escalate_seconds": 0}
    started.http.patch(f"/api/v1/sites/{site['id']}", json=quiet, headers=headers)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def admin(hooked: AppServer) -> Account:
    return sign_in_owner(hooked)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def make_hook(server: AppServer, admin: Account, url: str, events: list[str]) -> dict[str, Any]:
    response = call(server, admin, "POST", "/api/v1/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def hooks(hooked: AppServer, admin: Account) -> Iterator[list[dict[str, Any]]]:
    """Webhooks a test makes, deleted after it so they stop receiving the next test's events."""
    made: list[dict[str, Any]] = []
    yield made
    for hook in made:
        call(hooked, admin, "DELETE", f"/api/v1/webhooks/{hook['webhook']['id']}")


def deliveries(server: AppServer, admin: Account, hook_id: int) -> list[dict[str, Any]]:
    response = call(server, admin, "GET", f"/api/v1/webhooks/{hook_id}/deliveries")
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


def test_events_are_delivered_signed(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """A visitor's message reaches the webhook as conversation.created and message.created,
    each signed as documented and named by its Omnichat-Delivery id."""
    made = make_hook(hooked, admin, receiver.url, ["conversation.created", "message.created"])
    hooks.append(made)
    assert set(made["webhook"]) >= {"id", "url", "events", "active"} and made["secret"]
    _, message = visitor_says(hooked, "Can I book a cleaning?")
    conversation_id = message["conversation_id"]
    created = receiver.wait_for("conversation.created", conversation_id)[0]
    # The greeting and the visitor's message, sent in either order.
    said = [
        item
        for item in receiver.wait_for("message.created", conversation_id, count=2)
        if item.json["data"]["message"]["id"] == message["id"]
    ]
    assert len(said) == 1
    for item in (created, said[0]):
        verify(made["secret"], item.headers, item.body)
        assert item.headers["content-type"] == "application/json"
        assert item.delivery == str(item.json["id"])
        assert set(item.json) == {"id", "event", "created_at", "data"}
    assert said[0].json["data"]["message"]["text"] == "Can I book a cleaning?"
    assert said[0].json["data"]["conversation"]["id"] == conversation_id
    with pytest.raises(AssertionError):
        verify("whsec_wrong", said[0].headers, said[0].body)
    log = eventually(
        lambda: [
            d
            for d in deliveries(hooked, admin, made["webhook"]["id"])
            if str(d["id"]) == said[0].delivery and d["status"] == "delivered"
        ]
    )
    assert log[0]["response_status"] == 200 and log[0]["attempts"] == 1
    assert log[0]["event"] == "message.created" and log[0]["delivered_at"]
    listed = call(hooked, admin, "GET", "/api/v1/webhooks").json()["webhooks"]
    assert "secret" not in str(listed) and made["secret"] not in str(listed)
    metrics = hooked.http.get("/metrics").text
    assert 'omnichat_webhook_deliveries_total{outcome="delivered"}' in metrics


def test_server_errors_are_retried_until_delivered(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """Two 500 answers are retried with the same delivery id and body until a 200."""
    made = make_hook(hooked, admin, receiver.url, ["conversation.created"])
    hooks.append(made)
    receiver.plan[:] = [500, 500]
    _, message = visitor_says(hooked, "retry me")
    tries = receiver.wait_for("conversation.created", message["conversation_id"], count=3)
    assert len({item.delivery for item in tries}) == 1
    assert len({item.body for item in tries}) == 1
    for item in tries:
        verify(made["secret"], item.headers, item.body)
    done = eventually(
        lambda: [
            d
            for d in deliveries(hooked, admin, made["webhook"]["id"])
            if d["status"] == "delivered"
        ]
    )
    assert done[0]["attempts"] == 3 and done[0]["response_status"] == 200
    assert 'outcome="retry"' in hooked.http.get("/metrics").text


def test_a_timeout_is_retried(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """A receiver slower than the timeout gets the delivery again, which then succeeds."""
    made = make_hook(hooked, admin, receiver.url, ["conversation.created"])
    hooks.append(made)
    receiver.plan[:] = [1.0]  # the app's timeout is 0.5 s
    _, message = visitor_says(hooked, "slow receiver")
    tries = receiver.wait_for("conversation.created", message["conversation_id"], count=2)
    assert tries[0].delivery == tries[1].delivery
    done = eventually(
        lambda: [
            d
            for d in deliveries(hooked, admin, made["webhook"]["id"])
            if d["status"] == "delivered"
        ]
    )
    assert done[0]["attempts"] == 2


def test_private_notes_go_only_to_webhooks_asking_for_them(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """A private note reaches only a webhook subscribed to message.private, under that name;
    message.created carries public messages alone."""
    private_receiver = Receiver().start()
    try:
        public = make_hook(hooked, admin, receiver.url, ["message.created"])
        both = make_hook(
            hooked, admin, private_receiver.url, ["message.created", "message.private"]
        )
        hooks.extend([public, both])
        _, message = visitor_says(hooked, "hello there")
        conversation_id = message["conversation_id"]
        assert reply(hooked, admin, conversation_id, "staff only", private=True).is_success
        assert reply(hooked, admin, conversation_id, "public answer").is_success
        texts = {"hello there", "public answer"}
        eventually(
            lambda: (
                texts <= {i.json["data"]["message"]["text"] for i in receiver.of("message.created")}
            )
        )
        notes = private_receiver.wait_for("message.private", conversation_id)
        assert [n.json["data"]["message"]["text"] for n in notes] == ["staff only"]
        assert notes[0].json["data"]["message"]["private"] is True
        eventually(
            lambda: (
                texts
                <= {
                    i.json["data"]["message"]["text"]
                    for i in private_receiver.of("message.created", conversation_id)
                }
            )
        )
        time.sleep(0.3 * UNIT)
        everything = [i.json for i in receiver.received + private_receiver.received]
        assert all(
            not body["data"]["message"]["private"]
            for body in everything
            if body["event"] == "message.created"
        )
        assert not receiver.of("message.private")
    finally:
        private_receiver.stop()


def test_an_open_circuit_pauses_a_failing_webhook(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """After three failures in a row the webhook is left alone for the pause, then one trial
    delivery is made."""
    made = make_hook(hooked, admin, receiver.url, ["conversation.created"])
    hooks.append(made)
    receiver.plan[:] = [500] * 4
    _, message = visitor_says(hooked, "circuit")
    receiver.wait_for("conversation.created", message["conversation_id"], count=3)
    paused_at = time.monotonic()
    time.sleep(0.8 * UNIT)
    assert len(receiver.received) == 3, "deliveries went on during the pause"
    receiver.wait_for("conversation.created", message["conversation_id"], count=4)
    assert time.monotonic() - paused_at >= 1.0
    # The trial failed too (planned 500): paused again, no fifth try right away.
    time.sleep(0.5 * UNIT)
    assert len(receiver.received) == 4


def test_resend_delivers_again_under_the_same_id(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """Resend queues a delivery again; the receiver gets it a second time with its id."""
    made = make_hook(hooked, admin, receiver.url, ["conversation.created"])
    hooks.append(made)
    hook_id = made["webhook"]["id"]
    _, message = visitor_says(hooked, "resend")
    first = receiver.wait_for("conversation.created", message["conversation_id"])[0]
    eventually(lambda: deliveries(hooked, admin, hook_id)[0]["status"] == "delivered")
    path = f"/api/v1/webhooks/{hook_id}/deliveries/{first.delivery}/resend"
    response = call(hooked, admin, "POST", path)
    assert response.status_code == 200, response.text
    assert response.json()["delivery"]["attempts"] == 0
    again = receiver.wait_for("conversation.created", message["conversation_id"], count=2)
    assert again[1].delivery == first.delivery and again[1].body == first.body
    assert (
        call(
            hooked, admin, "POST", f"/api/v1/webhooks/{hook_id}/deliveries/999999/resend"
        ).status_code
        == 404
    )


def test_inactive_and_deleted_webhooks_get_nothing(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """A webhook switched off receives nothing; switched on again, it does."""
    made = make_hook(hooked, admin, receiver.url, ["conversation.created"])
    hooks.append(made)
    path = f"/api/v1/webhooks/{made['webhook']['id']}"
    off = call(hooked, admin, "PATCH", path, json={"active": False})
    assert off.status_code == 200 and off.json()["webhook"]["active"] is False
    visitor_says(hooked, "nobody listens")
    time.sleep(0.5 * UNIT)
    assert receiver.received == []
    on = call(hooked, admin, "PATCH", path, json={"active": True, "events": ["message.created"]})
    assert on.json()["webhook"]["events"] == ["message.created"]
    _, message = visitor_says(hooked, "now it listens")
    receiver.wait_for("message.created", message["conversation_id"])
    assert not receiver.of("conversation.created")
    assert call(hooked, admin, "DELETE", path).status_code == 204
    assert call(hooked, admin, "GET", path + "/deliveries").status_code == 404


def test_fields_are_checked(hooked: AppServer, admin: Account, receiver: Receiver) -> None:
    """Bad events, URLs and unknown fields are refused with 422 naming the field."""
    cases = [
        ({"url": receiver.url, "events": []}, "events"),
        ({"url": receiver.url, "events": ["message.deleted"]}, "events"),
        ({"url": receiver.url, "events": "message.created"}, "events"),
        ({"url": "ftp://example.com/x", "events": ["message.created"]}, "url"),
        ({"url": "https://user:pw@example.com/", "events": ["message.created"]}, "url"),
        ({"events": ["message.created"]}, "url"),
        ({"url": receiver.url, "events": ["message.created"], "secret": "x"}, "secret"),
    ]
    for body, name in cases:
        response = call(hooked, admin, "POST", "/api/v1/webhooks", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["message"].startswith(name), body


def test_production_takes_only_https() -> None:
    """In production an http URL is refused; https is taken."""
    guard = Egress()
    with pytest.raises(Invalid) as refused:
        asyncio.run(endpoints.parse_url("http://example.com/h", production=True, egress=guard))
    assert refused.value.field == "url"
    url = asyncio.run(endpoints.parse_url("https://93.184.215.14/h", production=True, egress=guard))
    assert url == "https://93.184.215.14/h"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://localhost:8080/hook",
        "http://vm/hook",
        "http://2130706433/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_internal_destinations_are_refused_when_saved(
    app: AppServer, owner: Account, url: str
) -> None:
    """Loopback, private, link-local (metadata) addresses and names resolving to them are
    refused with 422 naming url, when no allow-list lets them through."""
    for method, path in (("POST", "/api/v1/webhooks"),):
        response = call(app, owner, method, path, json={"url": url, "events": ["message.created"]})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_field"
        assert response.json()["error"]["message"].startswith("url")


def test_only_admins_manage_webhooks_and_only_their_own_tenants(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """Agents get 403; another tenant's admin sees none of ours (404 on each id) and its
    webhook gets none of our events."""
    made = make_hook(hooked, admin, receiver.url, ["conversation.created"])
    hooks.append(made)
    hook_id = made["webhook"]["id"]
    _, message = visitor_says(hooked, "isolation")
    delivery = receiver.wait_for("conversation.created", message["conversation_id"])[0].delivery
    agent = create_account(hooked, admin, "agent")
    body = {"url": receiver.url, "events": ["message.created"]}
    assert call(hooked, agent, "GET", "/api/v1/webhooks").status_code == 403
    assert call(hooked, agent, "POST", "/api/v1/webhooks", json=body).status_code == 403
    assert call(hooked, agent, "GET", f"/api/v1/webhooks/{hook_id}/deliveries").status_code == 403
    other = other_tenant_account(hooked, "admin")
    their_receiver = Receiver().start()
    try:
        theirs = make_hook(hooked, other, their_receiver.url, ["conversation.created"])
        listed = call(hooked, other, "GET", "/api/v1/webhooks").json()["webhooks"]
        assert [hook["id"] for hook in listed] == [theirs["webhook"]["id"]]
        for method, path, json in (
            ("PATCH", f"/api/v1/webhooks/{hook_id}", {"active": False}),
            ("DELETE", f"/api/v1/webhooks/{hook_id}", None),
            ("GET", f"/api/v1/webhooks/{hook_id}/deliveries", None),
            ("POST", f"/api/v1/webhooks/{hook_id}/deliveries/{delivery}/resend", None),
            (
                "POST",
                f"/api/v1/webhooks/{theirs['webhook']['id']}/deliveries/{delivery}/resend",
                None,
            ),
        ):
            response = call(hooked, other, method, path, json=json)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
        visitor_says(hooked, "ours only")
        time.sleep(0.5 * UNIT)
        assert their_receiver.received == []
        assert deliveries(hooked, admin, hook_id)[0]["status"] == "delivered"
    finally:
        their_receiver.stop()


def test_a_rating_is_delivered_as_rating_created(
    hooked: AppServer, admin: Account, receiver: Receiver, hooks: list[dict[str, Any]]
) -> None:
    """A visitor's rating of a closed conversation reaches a webhook asking for rating.created."""
    hooks.append(make_hook(hooked, admin, receiver.url, ["rating.created"]))
    token, message = visitor_says(hooked, "rate me")
    conversation_id = message["conversation_id"]
    closed = call(hooked, admin, "POST", f"/api/v1/conversations/{conversation_id}/close")
    assert closed.status_code == 200, closed.text
    rated = hooked.http.post(
        "/api/v1/widget/rating",
        json={"score": 5, "comment": "Very kind"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert rated.status_code in (200, 201), rated.text
    body = receiver.wait_for("rating.created", conversation_id)[0].json
    assert body["data"]["rating"]["score"] == 5
    assert body["data"]["rating"]["comment"] == "Very kind"
    assert body["data"]["conversation"]["status"] == "closed"
