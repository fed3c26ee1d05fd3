"""Staff accounts over the API: who may do what, the last-owner rule, and tenant isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.agents import agent_socket
from tests.app_server import AppServer
from tests.servers import ServerProcess
from tests.staff import (
    PASSWORD,
    Account,
    closed_with,
    create_account,
    create_user_cli,
    login,
    login_response,
    other_tenant_account,
    sign_in_owner,
    unique_email,
    unique_ip,
)


def patch(app: AppServer, actor: Account, user_id: int, **body: Any) -> httpx.Response:
    return app.http.patch(f"/api/v1/users/{user_id}", json=body, headers=actor.headers)


def create(app: AppServer, actor: Account, **body: Any) -> httpx.Response:
    return app.http.post("/api/v1/users", json=body, headers=actor.headers)


def me(app: AppServer, account: Account) -> httpx.Response:
    return app.http.get("/api/v1/auth/me", headers=account.headers)


@pytest.mark.parametrize(
    ("role", "list_status", "create_status", "patch_status"),
    [("agent", 200, 403, 403), ("admin", 200, 201, 200), ("owner", 200, 201, 200)],
)
def test_role_matrix(
    app: AppServer,
    owner: Account,
    role: str,
    list_status: int,
    create_status: int,
    patch_status: int,
) -> None:
    """Agents may list colleagues; creating and changing accounts takes an admin."""
    actor = owner if role == "owner" else create_account(app, owner, role)
    target = create_account(app, owner, "agent")
    assert app.http.get("/api/v1/users", headers=actor.headers).status_code == list_status
    created = create(app, actor, email=unique_email(), role="agent")
    assert created.status_code == create_status
    assert patch(app, actor, target.user["id"], name="Renamed").status_code == patch_status
    assert app.http.get("/api/v1/users").status_code == 401


def test_created_account_gets_a_one_time_password(app: AppServer, owner: Account) -> None:
    """POST answers the user and a generated password once; signing in with it demands a change."""
    email = unique_email()
    response = create(app, owner, email=email, name="Ada", role="admin")
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["user"]["email"] == email and body["user"]["name"] == "Ada"
    assert body["user"]["role"] == "admin" and body["user"]["must_change_password"] is True
    assert len(body["password"]) >= 16
    account = login(app, email, body["password"])
    blocked = app.http.get("/api/v1/users", headers=account.headers)
    assert blocked.json()["error"]["code"] == "password_change_required"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "role": "agent"}, "email"),
        ({"email": None, "role": "agent"}, "email"),
        ({"email": "x@example.com", "role": "boss"}, "role"),
        ({"email": "x@example.com", "name": "", "role": "agent"}, "name"),
        ({"email": "x@example.com", "name": "n" * 101, "role": "agent"}, "name"),
    ],
)
def test_invalid_new_accounts_name_the_field(
    app: AppServer, owner: Account, body: dict[str, Any], field: str
) -> None:
    """A bad email, role or name is a 422 whose message starts with the field."""
    response = create(app, owner, **body)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(f"{field}:")


def test_duplicate_email_is_a_conflict(app: AppServer, owner: Account) -> None:
    """A second account with an existing email (any case) answers 409."""
    email = unique_email()
    assert create(app, owner, email=email, role="agent").status_code == 201
    again = create(app, owner, email=email.upper(), role="agent")
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"


def test_another_tenant_cannot_tell_which_emails_have_accounts(server: ServerProcess) -> None:
    """Tenant B's admin used to get 409 email_taken for tenant A's addresses. Emails are unique
    per tenant now: B's answer for A's address (owner or agent, any case) is the answer for an
    address nobody uses, and only B's own duplicates conflict."""
    boss = sign_in_owner(server)
    agent, admin = create_account(server, boss, "agent"), create_account(server, boss, "admin")
    stranger = other_tenant_account(server, "admin")

    def shape(response: httpx.Response) -> tuple[int, list[str]]:
        body = response.json()
        return response.status_code, sorted(body) + sorted(body.get("user", {}))

    fresh = shape(create(server, stranger, email=unique_email(), role="agent"))
    assert fresh[0] == 201
    for taken_in_a in (boss.user["email"], admin.user["email"].upper()):
        assert shape(create(server, stranger, email=taken_in_a, role="agent")) == fresh
    renamed = create(server, stranger, email=unique_email(), role="agent").json()["user"]
    moved = patch(server, stranger, renamed["id"], email=agent.user["email"].swapcase())
    assert moved.status_code == 200, moved.text
    again = create(server, stranger, email=agent.user["email"], role="agent")
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"
    # Tenant A's accounts are untouched and still sign in without naming a tenant.
    assert me(server, agent).status_code == 200
    assert login_response(server, agent.user["email"], agent.password).status_code == 200


def test_patch_refuses_unknown_fields(app: AppServer, owner: Account) -> None:
    """A PATCH with a field that cannot be changed names it in a 422."""
    target = create_account(app, owner, "agent")
    response = patch(app, owner, target.user["id"], password_hash="x")
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("password_hash:")


def test_admin_cannot_raise_anyone_above_their_role(app: AppServer, owner: Account) -> None:
    """An admin cannot create an owner, promote to owner, or touch an owner's account."""
    admin = create_account(app, owner, "admin")
    agent = create_account(app, owner, "agent")
    assert create(app, admin, email=unique_email(), role="owner").status_code == 403
    assert patch(app, admin, agent.user["id"], role="owner").status_code == 403
    assert patch(app, admin, admin.user["id"], role="owner").status_code == 403
    assert patch(app, admin, owner.user["id"], name="Demoted").status_code == 403
    assert patch(app, admin, owner.user["id"], disabled=True).status_code == 403
    assert patch(app, admin, agent.user["id"], role="admin").status_code == 200
    assert me(app, owner).json()["user"]["role"] == "owner"


def test_last_owner_cannot_be_demoted_or_disabled(app: AppServer) -> None:
    """With two owners one may be disabled; the one left can be neither demoted nor disabled."""
    first, second = unique_email("owner"), unique_email("owner")
    tenant = unique_email("t").split("@")[0]
    create_user_cli(app, first, "owner", tenant)
    create_user_cli(app, second, "owner", tenant)
    one, two = login(app, first, PASSWORD), login(app, second, PASSWORD)
    assert patch(app, two, one.user["id"], disabled=True).status_code == 200
    demote = patch(app, two, two.user["id"], role="admin")
    assert demote.status_code == 409 and demote.json()["error"]["code"] == "last_owner"
    own = patch(app, two, two.user["id"], disabled=True)
    assert own.status_code == 409
    assert patch(app, two, one.user["id"], disabled=False).status_code == 200
    assert patch(app, two, one.user["id"], role="admin").status_code == 200
    assert me(app, two).json()["user"]["role"] == "owner"


def test_disabling_ends_sessions_at_once(app: AppServer, owner: Account) -> None:
    """A disabled user's access and refresh tokens stop working at once; login is refused."""
    agent = create_account(app, owner, "agent")
    assert me(app, agent).status_code == 200
    assert patch(app, owner, agent.user["id"], disabled=True).json()["user"]["disabled"] is True
    assert me(app, agent).status_code == 401
    refreshed = app.http.post("/api/v1/auth/refresh", json={"refresh_token": agent.refresh_token})
    assert refreshed.status_code == 401
    again = login_response(app, agent.user["email"], agent.password, unique_ip())
    assert again.status_code == 403 and again.json()["error"]["code"] == "account_disabled"
    assert patch(app, owner, agent.user["id"], disabled=False).status_code == 200
    assert login_response(app, agent.user["email"], agent.password).status_code == 200


def test_role_change_needs_a_fresh_token(app: AppServer, owner: Account) -> None:
    """After a role change old access tokens are refused; a refresh carries the new role."""
    agent = create_account(app, owner, "agent")
    assert patch(app, owner, agent.user["id"], role="admin").status_code == 200
    stale = me(app, agent)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "role_changed"
    refreshed = app.http.post("/api/v1/auth/refresh", json={"refresh_token": agent.refresh_token})
    assert refreshed.status_code == 200
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert app.http.get("/api/v1/sites", headers=headers).status_code == 200
    assert patch(app, owner, agent.user["id"], role="agent").status_code == 200
    assert app.http.get("/api/v1/sites", headers=headers).status_code == 401


def test_password_reset_gives_a_new_one_time_password(app: AppServer, owner: Account) -> None:
    """A reset ends the user's sessions, retires the old password and must be changed."""
    agent = create_account(app, owner, "agent")
    response = patch(app, owner, agent.user["id"], reset_password=True)
    assert response.status_code == 200
    temporary = response.json()["password"]
    assert response.json()["user"]["must_change_password"] is True
    assert me(app, agent).status_code == 401
    old = login_response(app, agent.user["email"], agent.password, unique_ip())
    assert old.status_code == 401
    assert login(app, agent.user["email"], temporary).user["must_change_password"] is True


def test_other_tenants_users_are_invisible(app: AppServer, owner: Account) -> None:
    """Another tenant's admin never sees this tenant's users and gets 404 for their ids."""
    agent = create_account(app, owner, "agent")
    stranger = other_tenant_account(app, "admin")
    listed = app.http.get("/api/v1/users", headers=stranger.headers).json()
    assert [user["id"] for user in listed["users"]] == [stranger.user["id"]]
    for user_id in (agent.user["id"], owner.user["id"]):
        response = patch(app, stranger, user_id, disabled=True)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert me(app, agent).status_code == 200
    mine = app.http.get("/api/v1/users", headers=owner.headers).json()["users"]
    assert stranger.user["id"] not in [user["id"] for user in mine]


def test_user_changes_are_audited_without_secrets(app: AppServer, owner: Account) -> None:
    """Creating, changing and resetting an account each leave an entry; no password appears."""
    created = create(app, owner, email=unique_email(), role="agent").json()
    user_id = created["user"]["id"]
    patch(app, owner, user_id, role="admin", name="Grace")
    reset = patch(app, owner, user_id, reset_password=True).json()
    entries = app.http.get("/api/v1/audit", headers=owner.headers).json()["entries"]
    mine = [e for e in entries if e["target"] == f"user:{user_id}"]
    assert [e["action"] for e in mine] == ["user.updated", "user.updated", "user.created"]
    assert mine[1]["details"] == {"role": "admin", "name": "Grace"}
    assert mine[0]["details"] == {"password_reset": True}
    assert all(e["actor"]["id"] == owner.user["id"] for e in mine)
    assert created["password"] not in str(entries) and reset["password"] not in str(entries)


async def test_disabling_closes_the_users_sockets(app: AppServer, owner: Account) -> None:
    """A disabled user's open agent sockets close with 4401 at once."""
    agent = create_account(app, owner, "agent")
    async with agent_socket(app, agent.access_token) as (ws, _):
        assert patch(app, owner, agent.user["id"], disabled=True).status_code == 200
        assert await closed_with(ws) == 4401
