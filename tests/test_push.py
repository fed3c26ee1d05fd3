"""Web push through a push service stand-in on loopback: VAPID-signed, encrypted pushes that
the test's own subscription keys decrypt, content hidden by default, and gone subscriptions
dropped."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from tests.agents import call, visitor_says
from tests.app_server import AppServer
from tests.push_service import Device, PushService
from tests.servers import query
from tests.staff import Account, create_account, sign_in_owner
from tests.timing import UNIT, eventually


@pytest.fixture
def service() -> Iterator[PushService]:
    started = PushService().start()
    yield started
    started.stop()


@pytest.fixture
def push_app(start_app: Callable[..., AppServer]) -> AppServer:
    app = start_app(
        OMNICHAT_EGRESS_ALLOW_HOSTS="127.0.0.1",
        OMNICHAT_NOTIFY_RETRY_BASE_SECONDS="0.1",
        OMNICHAT_NOTIFY_RETRY_MAX_SECONDS="0.3",
    )
    owner = sign_in_owner(app)
    site = app.http.get("/api/v1/sites", headers=owner.headers).json()["sites"][0]
    quiet = {"patience_seconds": 0, "escalate_seconds": 0}
    call(app, owner, "PATCH", f"/api/v1/sites/{site['id']}", json=quiet).raise_for_status()
    return app


def subscribe(app: AppServer, account: Account, device: Device) -> None:
    made = call(app, account, "POST", "/api/v1/push/subscriptions", json=device.subscription())
    assert made.status_code == 201, made.text


def subscriptions(app: AppServer) -> list[str]:
    return [row["endpoint"] for row in query(app, "SELECT endpoint FROM push_subscriptions")]


def test_a_new_conversation_is_pushed_encrypted_and_signed(
    push_app: AppServer, service: PushService
) -> None:
    """A new conversation reaches the owner's device as an encrypted push with TTL and a VAPID
    signature made with the server's public key; by default it holds no visitor words."""
    owner = sign_in_owner(push_app)
    key = call(push_app, owner, "GET", "/api/v1/push/key").json()["public_key"]
    assert base64.urlsafe_b64decode(key + "=")[0] == 4 and len(key) == 87
    device = service.device("owner-phone")
    subscribe(push_app, owner, device)
    _, message = visitor_says(push_app, "my private symptoms")
    pushed = eventually(lambda: service.to(device), 10 * UNIT, "a push")[0]
    assert int(pushed.headers["TTL"]) > 0
    assert pushed.headers["Content-Encoding"] == "aes128gcm" and pushed.body
    scheme, _, params = pushed.headers["Authorization"].partition(" ")
    fields = dict(part.split("=", 1) for part in params.split(","))
    assert scheme == "vapid" and fields["k"] == key
    claims = jwt.decode(fields["t"], options={"verify_signature": False})
    assert claims["aud"] == f"http://127.0.0.1:{service.port}" and claims["sub"]
    shown = device.decrypt(pushed)
    assert shown["title"] == "New conversation"
    assert shown["url"] == f"/admin/conversations/{message['conversation_id']}"
    assert "symptoms" not in shown["body"] and b"symptoms" not in pushed.body


def test_with_content_shown_the_push_carries_a_short_preview(
    push_app: AppServer, service: PushService
) -> None:
    """A site that turns hide_content off gets the visitor's words previewed in the push."""
    owner = sign_in_owner(push_app)
    site = push_app.http.get("/api/v1/sites", headers=owner.headers).json()["sites"][0]
    assert site["hide_content"] is True
    changed = call(
        push_app, owner, "PATCH", f"/api/v1/sites/{site['id']}", json={"hide_content": False}
    )
    assert changed.status_code == 200 and changed.json()["site"]["hide_content"] is False
    bad = call(push_app, owner, "PATCH", f"/api/v1/sites/{site['id']}", json={"hide_content": 1})
    assert bad.status_code == 422
    device = service.device("desk")
    subscribe(push_app, owner, device)
    visitor_says(push_app, "is the clinic open on Sunday?")
    shown = device.decrypt(eventually(lambda: service.to(device), 10 * UNIT, "a push")[0])
    assert "is the clinic open on Sunday?" in shown["body"]


def test_a_subscription_answered_410_is_dropped(push_app: AppServer, service: PushService) -> None:
    """When the push service says the subscription is gone, it is forgotten and no more pushes
    go to it."""
    owner = sign_in_owner(push_app)
    device = service.device("old-laptop")
    subscribe(push_app, owner, device)
    service.status = 410
    visitor_says(push_app, "hello")
    eventually(lambda: device.endpoint not in subscriptions(push_app), 10 * UNIT, "the drop")
    service.status = 201
    visitor_says(push_app, "hello again")
    other = service.device("new-laptop")
    subscribe(push_app, owner, other)
    visitor_says(push_app, "third visitor")
    eventually(lambda: service.to(other), 10 * UNIT, "a push to the new device")
    assert len(service.to(device)) == 1


def test_subscriptions_are_checked_and_per_user(push_app: AppServer, app: AppServer) -> None:
    """Malformed keys and internal endpoints are refused naming the field; one user cannot
    delete another's subscription."""
    owner = sign_in_owner(push_app)
    device = Device("https://push.example.com/send/abc")
    good: dict[str, Any] = device.subscription()
    for body, field in (
        ({**good, "keys": {"p256dh": "short", "auth": good["keys"]["auth"]}}, "keys.p256dh"),
        ({**good, "keys": {"p256dh": good["keys"]["p256dh"], "auth": "!!"}}, "keys.auth"),
        ({**good, "endpoint": "ftp://push.example.com/x"}, "endpoint"),
        ({"endpoint": good["endpoint"]}, "keys"),
    ):
        refused = call(push_app, owner, "POST", "/api/v1/push/subscriptions", json=body)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["message"].startswith(field)
    internal = {**good, "endpoint": "http://10.0.0.8/push"}
    shared_owner = sign_in_owner(app)
    refused = call(app, shared_owner, "POST", "/api/v1/push/subscriptions", json=internal)
    assert refused.status_code == 422
    subscribe(push_app, owner, device)
    colleague = create_account(push_app, owner, "agent")
    stranger = call(
        push_app,
        colleague,
        "DELETE",
        "/api/v1/push/subscriptions",
        json={"endpoint": device.endpoint},
    )
    assert stranger.status_code == 404
    gone = call(
        push_app, owner, "DELETE", "/api/v1/push/subscriptions", json={"endpoint": device.endpoint}
    )
    assert gone.status_code == 204 and device.endpoint not in subscriptions(push_app)
    assert push_app.http.get("/api/v1/push/key").status_code == 401
