"""/api/v1/canned: personal and shared canned replies, their rules, roles and tenants."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.agents import call
from tests.app_server import AppServer
from tests.staff import Account, create_account, other_tenant_account


def shortcut(prefix: str = "s") -> str:
    """A shortcut no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def admin(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "admin")


@pytest.fixture(scope="module")
def agent(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


@pytest.fixture(scope="module")
def colleague(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


def create(app: AppServer, account: Account, **body: Any) -> dict[str, Any]:
    response = call(app, account, "POST", "/api/v1/canned", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["canned"])


def listed(app: AppServer, account: Account, q: str | None = None) -> list[dict[str, Any]]:
    params = {} if q is None else {"q": q}
    response = call(app, account, "GET", "/api/v1/canned", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["canned"])


def test_personal_reply_lifecycle(app: AppServer, agent: Account) -> None:
    """An agent creates, lists, edits and deletes a personal reply; the text is stored trimmed."""
    name = shortcut("hello")
    made = create(app, agent, shortcut=name, text="  Hi {{visitor.name}}, I am {{agent.name}}. ")
    assert made == {
        "id": made["id"],
        "shortcut": name,
        "text": "Hi {{visitor.name}}, I am {{agent.name}}.",
        "shared": False,
        "owner": {"id": agent.user["id"], "name": agent.user["name"]},
    }
    assert made in listed(app, agent)
    edited = call(app, agent, "PATCH", f"/api/v1/canned/{made['id']}", json={"text": "Bye"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["canned"]["text"] == "Bye"
    assert edited.json()["canned"]["shortcut"] == name
    assert call(app, agent, "DELETE", f"/api/v1/canned/{made['id']}").status_code == 204
    assert made["id"] not in [c["id"] for c in listed(app, agent)]
    gone = call(app, agent, "PATCH", f"/api/v1/canned/{made['id']}", json={"text": "x"})
    assert gone.status_code == 404


def test_agents_see_their_own_and_shared_replies_only(
    app: AppServer, admin: Account, agent: Account, colleague: Account
) -> None:
    """The list holds the caller's personal replies and the team's shared ones, nobody else's."""
    shared = create(app, admin, shortcut=shortcut("team"), text="Team text", shared=True)
    assert shared["shared"] is True and shared["owner"] is None
    mine = create(app, agent, shortcut=shortcut("mine"), text="Mine")
    theirs = create(app, colleague, shortcut=shortcut("theirs"), text="Theirs")
    ids = {c["id"] for c in listed(app, agent)}
    assert {shared["id"], mine["id"]} <= ids
    assert theirs["id"] not in ids
    # Another user's personal reply reads as missing, for admins too.
    for method, body in (("PATCH", {"text": "x"}), ("DELETE", None)):
        for account in (agent, admin):
            response = call(app, account, method, f"/api/v1/canned/{theirs['id']}", json=body)
            assert response.status_code == 404, response.text
    assert theirs in listed(app, colleague)


def test_query_filters_by_shortcut_and_text(app: AppServer, agent: Account) -> None:
    """`q` keeps replies whose shortcut or text holds it, ignoring case, shortcut prefixes first."""
    tag = uuid.uuid4().hex[:8]
    by_text = create(app, agent, shortcut=shortcut("zz"), text=f"Opening HOURS {tag}")
    by_prefix = create(app, agent, shortcut=f"{tag}-hours", text="We open at nine")
    create(app, agent, shortcut=shortcut("other"), text="Nothing to see")
    found = listed(app, agent, q=tag.upper())
    assert [c["id"] for c in found] == [by_prefix["id"], by_text["id"]]
    assert listed(app, agent, q=f"hours {tag}") == [by_text]


def test_only_admins_write_shared_replies(app: AppServer, admin: Account, agent: Account) -> None:
    """An agent may not create, edit, delete or share into the shared replies (403)."""
    refused = call(
        app,
        agent,
        "POST",
        "/api/v1/canned",
        json={"shortcut": shortcut(), "text": "x", "shared": True},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    shared = create(app, admin, shortcut=shortcut("shared"), text="Shared", shared=True)
    for method, body in (("PATCH", {"text": "mine now"}), ("DELETE", None)):
        response = call(app, agent, method, f"/api/v1/canned/{shared['id']}", json=body)
        assert response.status_code == 403, response.text
    mine = create(app, agent, shortcut=shortcut("p"), text="Personal")
    to_shared = call(app, agent, "PATCH", f"/api/v1/canned/{mine['id']}", json={"shared": True})
    assert to_shared.status_code == 403
    assert shared in listed(app, agent) and mine in listed(app, agent)
    # An admin may share their own personal reply.
    own = create(app, admin, shortcut=shortcut("own"), text="Admin's")
    moved = call(app, admin, "PATCH", f"/api/v1/canned/{own['id']}", json={"shared": True})
    assert moved.status_code == 200 and moved.json()["canned"]["owner"] is None
    assert call(app, admin, "DELETE", f"/api/v1/canned/{shared['id']}").status_code == 204


def test_shortcuts_are_unique_per_user_and_per_team(
    app: AppServer, admin: Account, agent: Account, colleague: Account
) -> None:
    """A shortcut repeats neither among one user's replies nor among shared ones (409)."""
    name = shortcut("dup")
    first = create(app, agent, shortcut=name, text="One")
    again = call(app, agent, "POST", "/api/v1/canned", json={"shortcut": name, "text": "Two"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "shortcut_taken"
    # Another user's personal namespace and the shared one are separate.
    create(app, colleague, shortcut=name, text="Colleague's")
    create(app, admin, shortcut=name, text="Shared", shared=True)
    shared_again = call(
        app, admin, "POST", "/api/v1/canned", json={"shortcut": name, "text": "x", "shared": True}
    )
    assert shared_again.status_code == 409
    other = create(app, agent, shortcut=shortcut("dup"), text="Other")
    renamed = call(app, agent, "PATCH", f"/api/v1/canned/{other['id']}", json={"shortcut": name})
    assert renamed.status_code == 409
    assert [c["text"] for c in listed(app, agent) if c["id"] == first["id"]] == ["One"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x"}, "shortcut"),
        ({"shortcut": "ok"}, "text"),
        ({"shortcut": "Hello", "text": "x"}, "shortcut"),
        ({"shortcut": "with space", "text": "x"}, "shortcut"),
        ({"shortcut": "a" * 33, "text": "x"}, "shortcut"),
        ({"shortcut": "", "text": "x"}, "shortcut"),
        ({"shortcut": 7, "text": "x"}, "shortcut"),
        ({"shortcut": "ok", "text": "   "}, "text"),
        ({"shortcut": "ok", "text": "x" * 4001}, "text"),
        ({"shortcut": "ok", "text": "x", "shared": "yes"}, "shared"),
        ({"shortcut": "ok", "text": "x", "owner": 1}, "owner"),
    ],
)
def test_invalid_fields_are_422_naming_them(
    app: AppServer, agent: Account, body: dict[str, Any], field: str
) -> None:
    """A bad field is 422 naming it, and nothing is stored."""
    before = listed(app, agent)
    response = call(app, agent, "POST", "/api/v1/canned", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert listed(app, agent) == before


def test_limits_are_inclusive(app: AppServer, agent: Account) -> None:
    """A 32-character shortcut and a 4000-character text are accepted."""
    name = ("x-" + uuid.uuid4().hex)[:32]
    made = create(app, agent, shortcut=name, text="é" * 4000)
    assert made["shortcut"] == name and len(made["text"]) == 4000


def test_other_tenants_replies_are_invisible(app: AppServer, admin: Account) -> None:
    """Another tenant's replies never list, and their ids are 404 to edit or delete."""
    stranger = other_tenant_account(app, "admin")
    theirs = create(app, stranger, shortcut=shortcut("t"), text="Theirs", shared=True)
    assert theirs["id"] not in [c["id"] for c in listed(app, admin)]
    for method, body in (("PATCH", {"text": "x"}), ("DELETE", None)):
        response = call(app, admin, method, f"/api/v1/canned/{theirs['id']}", json=body)
        assert response.status_code == 404, response.text
    assert listed(app, stranger) == [theirs]


def test_needs_a_signed_in_caller(app: AppServer) -> None:
    """Without a token the endpoints are 401."""
    assert app.http.get("/api/v1/canned").status_code == 401
    assert app.http.post("/api/v1/canned", json={}).status_code == 401
