"""/api/v1/labels and a conversation's labels: roles, rules, the inbox filter and live events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.agents import (
    agent_socket,
    call,
    frames_until,
    quiet,
    site_key,
    tenant_slug,
    visitor_says,
)
from tests.app_server import AppServer
from tests.staff import Account, create_account, other_tenant_account
from tests.visitors import new_session, visitor_socket


def label_name(prefix: str = "L") -> str:
    """A label name no other test uses."""
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def agent(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


def make_label(app: AppServer, admin: Account, name: str, **extra: Any) -> dict[str, Any]:
    response = call(app, admin, "POST", "/api/v1/labels", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json()["label"])


def set_labels(app: AppServer, account: Account, cid: int, names: list[str]) -> Any:
    return call(app, account, "PUT", f"/api/v1/conversations/{cid}/labels", json={"labels": names})


def listing(app: AppServer, account: Account, **params: str) -> list[int]:
    response = call(app, account, "GET", "/api/v1/conversations", params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["conversations"]]


def test_label_lifecycle(app: AppServer, owner: Account, agent: Account) -> None:
    """An admin creates a label (trimmed, colour lower-cased), all list it, an admin deletes it."""
    name = label_name("VIP")
    made = make_label(app, owner, f"  {name} ", color="#AABBCC")
    assert made == {"id": made["id"], "name": name, "color": "#aabbcc"}
    assert made in call(app, agent, "GET", "/api/v1/labels").json()["labels"]
    plain = make_label(app, owner, label_name())
    assert plain["color"] == "#64748b"
    assert call(app, owner, "DELETE", f"/api/v1/labels/{made['id']}").status_code == 204
    assert made not in call(app, agent, "GET", "/api/v1/labels").json()["labels"]
    assert call(app, owner, "DELETE", f"/api/v1/labels/{made['id']}").status_code == 404


def test_agents_may_not_define_labels(app: AppServer, owner: Account, agent: Account) -> None:
    """Creating and deleting labels takes an admin (403 for agents)."""
    refused = call(app, agent, "POST", "/api/v1/labels", json={"name": label_name()})
    assert refused.status_code == 403
    made = make_label(app, owner, label_name())
    assert call(app, agent, "DELETE", f"/api/v1/labels/{made['id']}").status_code == 403
    assert made in call(app, agent, "GET", "/api/v1/labels").json()["labels"]


def test_names_are_unique_ignoring_case(app: AppServer, owner: Account) -> None:
    """A name another label has in any letter case is 409 `label_taken`."""
    name = "Straße " + uuid.uuid4().hex[:6]
    make_label(app, owner, name)
    for same in (name.upper(), name.lower(), name.replace("ß", "ss")):
        response = call(app, owner, "POST", "/api/v1/labels", json={"name": same})
        assert response.status_code == 409, same
        assert response.json()["error"]["code"] == "label_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"name": 3}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": "ok", "color": "red"}, "color"),
        ({"name": "ok", "color": "#abc"}, "color"),
        ({"name": "ok", "color": "#gg0000"}, "color"),
        ({"name": "ok", "size": 3}, "size"),
    ],
)
def test_invalid_label_fields_are_422(
    app: AppServer, owner: Account, body: dict[str, Any], field: str
) -> None:
    """A bad name or colour is 422 naming the field, and no label is stored."""
    before = call(app, owner, "GET", "/api/v1/labels").json()["labels"]
    response = call(app, owner, "POST", "/api/v1/labels", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert call(app, owner, "GET", "/api/v1/labels").json()["labels"] == before


def test_agents_set_labels_and_filter_by_them(
    app: AppServer, owner: Account, agent: Account
) -> None:
    """Labels set on a conversation show everywhere it is read and filter the inbox."""
    billing, urgent = label_name("Billing"), label_name("Urgent")
    make_label(app, owner, billing, color="#ff0000")
    make_label(app, owner, urgent)
    cid = visitor_says(app, "about my invoice")[1]["conversation_id"]
    other = visitor_says(app, "something else")[1]["conversation_id"]
    response = set_labels(app, agent, cid, [urgent.upper(), billing, urgent])
    assert response.status_code == 200, response.text
    assert response.json()["conversation"]["labels"] == sorted([billing, urgent], key=str.casefold)
    single = call(app, agent, "GET", f"/api/v1/conversations/{cid}").json()["conversation"]
    assert single["labels"] == sorted([billing, urgent], key=str.casefold)
    assert listing(app, agent, label=billing) == [cid]
    assert listing(app, agent, label=billing.lower(), status="all", assignee="none") == [cid]
    assert listing(app, agent, label=billing, status="closed") == []
    assert other not in listing(app, agent, label=urgent)
    rows = call(app, agent, "GET", "/api/v1/conversations", params={"limit": 200}).json()
    by_id = {c["id"]: c for c in rows["conversations"]}
    assert by_id[cid]["labels"] == sorted([billing, urgent], key=str.casefold)
    assert by_id[other]["labels"] == []
    # Replacing the set removes what is not named; [] removes everything.
    assert set_labels(app, agent, cid, [billing]).json()["conversation"]["labels"] == [billing]
    assert listing(app, agent, label=urgent) == []
    assert set_labels(app, agent, cid, []).json()["conversation"]["labels"] == []
    assert listing(app, agent, label=billing) == []


def test_unknown_labels_and_bad_bodies_are_422(
    app: AppServer, owner: Account, agent: Account
) -> None:
    """An unknown label name or a malformed list is 422 naming `labels`, and nothing changes."""
    known = label_name()
    make_label(app, owner, known)
    cid = visitor_says(app, "hello")[1]["conversation_id"]
    assert set_labels(app, agent, cid, [known]).status_code == 200
    for body in ({"labels": [known, "no such label"]}, {"labels": known}, {"labels": [1]}, {}):
        response = call(app, agent, "PUT", f"/api/v1/conversations/{cid}/labels", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["message"].startswith("labels:")
    single = call(app, agent, "GET", f"/api/v1/conversations/{cid}").json()["conversation"]
    assert single["labels"] == [known]
    bad_filter = call(app, agent, "GET", "/api/v1/conversations", params={"label": "x" * 41})
    assert bad_filter.status_code == 422 and "label:" in bad_filter.json()["error"]["message"]


def test_deleting_a_label_takes_it_off_conversations(app: AppServer, owner: Account) -> None:
    """A deleted label leaves every conversation that had it."""
    doomed, kept = label_name("Doomed"), label_name("Kept")
    made = make_label(app, owner, doomed)
    make_label(app, owner, kept)
    cid = visitor_says(app, "label me")[1]["conversation_id"]
    set_labels(app, owner, cid, [doomed, kept])
    assert call(app, owner, "DELETE", f"/api/v1/labels/{made['id']}").status_code == 204
    single = call(app, owner, "GET", f"/api/v1/conversations/{cid}").json()["conversation"]
    assert single["labels"] == [kept]


def test_other_tenants_labels_and_conversations_are_apart(app: AppServer, owner: Account) -> None:
    """Labels are per tenant: not listed, not deletable, not settable across tenants."""
    stranger = other_tenant_account(app, "admin")
    name = label_name("Shared name")
    theirs = make_label(app, stranger, name)
    # The same name is free in our tenant.
    ours = make_label(app, owner, name)
    assert theirs not in call(app, owner, "GET", "/api/v1/labels").json()["labels"]
    assert call(app, owner, "DELETE", f"/api/v1/labels/{theirs['id']}").status_code == 404
    their_cid = visitor_says(app, "theirs", key=site_key(app, tenant_slug(app, stranger)))[1][
        "conversation_id"
    ]
    assert set_labels(app, owner, their_cid, [name]).status_code == 404
    assert set_labels(app, stranger, their_cid, [name]).status_code == 200
    assert listing(app, owner, label=name, status="all") == []
    assert listing(app, stranger, label=name, status="all") == [their_cid]
    assert ours in call(app, owner, "GET", "/api/v1/labels").json()["labels"]


async def test_label_changes_reach_agents_not_the_visitor(
    app: AppServer, owner: Account, agent: Account
) -> None:
    """Setting labels sends agents conversation.updated with them; the visitor hears nothing."""
    name = label_name("Live")
    make_label(app, owner, name)
    token, first = visitor_says(app, "watch me")
    cid = first["conversation_id"]
    async with (
        agent_socket(app, agent.access_token) as (agents, _),
        visitor_socket(app, token, last_seq=first["seq"]) as (visitor, welcome),
    ):
        assert "labels" not in welcome["conversation"]
        assert set_labels(app, owner, cid, [name]).status_code == 200
        frames = await frames_until(agents, lambda f: f.get("type") == "event")
        event = frames[-1]
        assert event["event"] == "conversation.updated"
        assert event["data"]["conversation"]["id"] == cid
        assert event["data"]["conversation"]["labels"] == [name]
        # Setting the same labels again changes nothing and says nothing.
        assert set_labels(app, owner, cid, [name]).status_code == 200
        # (Only this conversation's: the shared app's other conversations may be moving.)
        assert [
            f
            for f in await quiet(agents)
            if f.get("type") == "event" and f["data"].get("conversation", {}).get("id") == cid
        ] == []
        assert await quiet(visitor) == []
    session = new_session(app, token=token)
    assert "labels" not in session["conversation"]
