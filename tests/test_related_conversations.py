"""A person's earlier conversations: other conversations of the tenant with the same visitor,
email (any case) or phone, most recently active first, at most 20, for staff of that tenant."""

from __future__ import annotations

import uuid
from typing import Any

from tests.agents import call, reply, site_key, tenant_slug, visitor_says
from tests.app_server import AppServer
from tests.staff import Account, login, other_tenant_account, unique_email, unique_ip
from tests.visitors import bearer


def person(app: AppServer, key: str | None = None, **identity: str) -> tuple[str, int]:
    """A new visitor who gives `identity` (name, email, phone) and writes once: its token and
    conversation id."""
    token, first = visitor_says(app, "hello " + uuid.uuid4().hex[:6], key=key)
    if identity:
        answer = app.http.post(
            "/api/v1/widget/identify",
            json=identity,
            headers={**bearer(token), "X-Forwarded-For": unique_ip()},
        )
        assert answer.status_code == 200, answer.text
    return token, int(first["conversation_id"])


def related(app: AppServer, account: Account, conversation_id: int) -> Any:
    return call(app, account, "GET", f"/api/v1/conversations/{conversation_id}/related")


def related_ids(app: AppServer, account: Account, conversation_id: int) -> list[int]:
    answer = related(app, account, conversation_id)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["conversations"]]


def test_same_email_or_phone_is_related_most_recent_first(app: AppServer, owner: Account) -> None:
    """Visitors sharing an email (in any case) or a phone are listed, the most recently active
    first; the conversation itself and strangers are not."""
    email = unique_email("patient")
    phone = f"+1555{uuid.uuid4().int % 10_000_000:07d}"
    _, first = person(app, email=email)
    _, second = person(app, email=email.upper(), phone=phone)
    _, by_phone = person(app, phone=phone)
    _, stranger = person(app, email=unique_email("stranger"))
    _, current = person(app, name="Maria", email=email, phone=phone)
    assert related_ids(app, owner, current) == [by_phone, second, first]
    # An agent's reply makes the oldest one the most recently active.
    assert reply(app, owner, first, "we called you back").status_code == 201
    assert related_ids(app, owner, current) == [first, by_phone, second]
    assert stranger not in related_ids(app, owner, current)
    # Related by phone only: the email of `first` is not the phone visitor's.
    assert related_ids(app, owner, by_phone) == [current, second]


def test_full_conversations_come_back(app: AppServer, owner: Account) -> None:
    """Each related item is a Conversation as the inbox shows it: status, visitor, dates."""
    email = unique_email("shape")
    _, earlier = person(app, name="Ana", email=email)
    assert call(app, owner, "POST", f"/api/v1/conversations/{earlier}/close").status_code == 200
    _, current = person(app, email=email)
    (item,) = related(app, owner, current).json()["conversations"]
    assert item["id"] == earlier and item["status"] == "closed"
    assert item["visitor"]["name"] == "Ana" and item["visitor"]["email"] == email
    assert {"created_at", "updated_at", "channel", "labels", "rating"} <= set(item)


def test_a_visitor_with_no_contact_details_has_none(app: AppServer, owner: Account) -> None:
    """An anonymous visitor's conversation has no related ones (no email or phone to match)."""
    _, current = person(app)
    assert related_ids(app, owner, current) == []


def test_at_most_twenty(app: AppServer, owner: Account) -> None:
    """A shared email with many conversations lists the 20 most recent."""
    email = unique_email("busy")
    made = [person(app, email=email)[1] for _ in range(22)]
    listed = related_ids(app, owner, made[-1])
    assert listed == list(reversed(made[:-1]))[:20]


def test_other_tenants_get_404_and_never_see_each_other(app: AppServer, owner: Account) -> None:
    """Another tenant's staff get 404; a visitor with the same email there is not related."""
    email = unique_email("shared")
    _, mine = person(app, email=email)
    _, also_mine = person(app, email=email)
    stranger = other_tenant_account(app)
    _, theirs = person(app, key=site_key(app, tenant_slug(app, stranger)), email=email)
    assert related(app, stranger, mine).status_code == 404
    assert related(app, stranger, mine).json()["error"]["code"] == "not_found"
    assert related_ids(app, stranger, theirs) == []
    assert related_ids(app, owner, mine) == [also_mine]
    assert related(app, owner, 999_999_999).status_code == 404


def test_staff_only(app: AppServer, owner: Account) -> None:
    """Any agent may ask; no token is 401, a pending password change is 403."""
    email = unique_email("roles")
    _, earlier = person(app, email=email)
    _, current = person(app, email=email)
    path = f"/api/v1/conversations/{current}/related"
    assert app.http.get(path).status_code == 401
    created = call(
        app, owner, "POST", "/api/v1/users", json={"email": unique_email(), "role": "agent"}
    )
    assert created.status_code == 201, created.text
    agent = login(app, created.json()["user"]["email"], created.json()["password"], ip=unique_ip())
    blocked = related(app, agent, current)
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "password_change_required"
    changed = app.http.post(
        "/api/v1/auth/password",
        json={"current_password": agent.password, "new_password": "a-perfectly-fine-password"},
        headers=agent.headers,
    )
    assert changed.status_code == 200, changed.text
    assert related_ids(app, agent, current) == [earlier]
