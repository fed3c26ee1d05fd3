"""/api/v1/tokens: API tokens for programs, from creation to revocation, capped and audited."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import uuid
from typing import Any

import httpx
import pytest

from omnichat.logs import JsonFormatter
from tests.agents import call, visitor_says, word
from tests.app_server import AppServer
from tests.servers import query
from tests.staff import Account, bearer, closed_with, create_account, other_tenant_account
from tests.visitors import send


def token_name(prefix: str = "CRM") -> str:
    """A token name no other test uses."""
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def make_token(app: AppServer, account: Account, role: str, name: str | None = None) -> Any:
    response = call(
        app, account, "POST", "/api/v1/tokens", json={"name": name or token_name(), "role": role}
    )
    assert response.status_code == 201, response.text
    return response.json()


def as_token(app: AppServer, secret: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return app.http.request(method, path, headers=bearer(secret), **kwargs)


def listed(app: AppServer, account: Account) -> list[dict[str, Any]]:
    response = call(app, account, "GET", "/api/v1/tokens")
    assert response.status_code == 200, response.text
    return list(response.json()["tokens"])


def audit_entries(app: AppServer, account: Account) -> list[dict[str, Any]]:
    response = call(app, account, "GET", "/api/v1/audit", params={"limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


@pytest.fixture(scope="module")
def admin(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "admin")


@pytest.fixture(scope="module")
def agent(app: AppServer, owner: Account) -> Account:
    return create_account(app, owner, "agent")


def test_token_lifecycle(app: AppServer, owner: Account) -> None:
    """A token is created with its secret, works as a Bearer, is listed with its last use
    (never with the secret), and once revoked its next request is 401."""
    name = token_name()
    made = make_token(app, owner, "agent", f"  {name}  ")
    token, secret = made["token"], made["secret"]
    assert token == {
        "id": token["id"],
        "name": name,
        "role": "agent",
        "created_at": token["created_at"],
        "last_used_at": None,
    }
    assert secret.startswith("omni_") and len(secret) >= len("omni_") + 43  # 256 bits
    assert as_token(app, secret, "GET", "/api/v1/conversations").status_code == 200

    [entry] = [t for t in listed(app, owner) if t["id"] == token["id"]]
    assert entry["last_used_at"] is not None and entry["last_used_at"] >= token["created_at"]
    assert "secret" not in entry and secret not in str(listed(app, owner))

    assert call(app, owner, "DELETE", f"/api/v1/tokens/{token['id']}").status_code == 204
    refused = as_token(app, secret, "GET", "/api/v1/conversations")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert token["id"] not in [t["id"] for t in listed(app, owner)]
    assert call(app, owner, "DELETE", f"/api/v1/tokens/{token['id']}").status_code == 404


def test_last_used_is_written_at_most_once_a_minute(app: AppServer, owner: Account) -> None:
    """Requests in quick succession leave the first recorded use in place."""
    made = make_token(app, owner, "agent")
    as_token(app, made["secret"], "GET", "/api/v1/conversations")
    [first] = [t for t in listed(app, owner) if t["id"] == made["token"]["id"]]
    for _ in range(3):
        assert as_token(app, made["secret"], "GET", "/api/v1/followups").status_code == 200
    [later] = [t for t in listed(app, owner) if t["id"] == made["token"]["id"]]
    assert later["last_used_at"] == first["last_used_at"] is not None


def test_a_token_replies_as_its_creator(app: AppServer, owner: Account) -> None:
    """A message posted with a token is an agent message authored by the token's creator."""
    _, said = visitor_says(app, word())
    secret = make_token(app, owner, "agent")["secret"]
    response = as_token(
        app,
        secret,
        "POST",
        f"/api/v1/conversations/{said['conversation_id']}/messages",
        json={"client_id": uuid.uuid4().hex, "text": "Booked for Tuesday"},
    )
    assert response.status_code == 201, response.text
    message = response.json()["message"]
    assert message["sender"] == "agent"
    assert message["author"] == {"id": owner.user["id"], "name": owner.user["name"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "   ", "role": "agent"}, "name"),
        ({"name": "x" * 101, "role": "agent"}, "name"),
        ({"role": "agent"}, "name"),
        ({"name": 5, "role": "agent"}, "name"),
        ({"name": "ok", "role": "boss"}, "role"),
        ({"name": "ok", "role": "agent", "secret": "mine"}, "secret"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    app: AppServer, owner: Account, body: dict[str, Any], field: str
) -> None:
    """A missing, blank, too long or unknown field is 422 and nothing is created."""
    before = listed(app, owner)
    response = call(app, owner, "POST", "/api/v1/tokens", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert listed(app, owner) == before


def test_role_is_capped_by_the_creators(
    app: AppServer, owner: Account, admin: Account, agent: Account
) -> None:
    """An admin makes agent and admin tokens but not owner ones; agents make none; an agent
    token is refused on admin endpoints."""
    refused = call(app, admin, "POST", "/api/v1/tokens", json={"name": "x", "role": "owner"})
    assert refused.status_code == 403
    assert make_token(app, admin, "admin")["token"]["role"] == "admin"
    agent_token = make_token(app, admin, "agent")["secret"]
    assert make_token(app, owner, "owner")["token"]["role"] == "owner"
    for role in ("agent", "admin"):
        response = call(app, agent, "POST", "/api/v1/tokens", json={"name": "x", "role": role})
        assert response.status_code == 403
    assert call(app, agent, "GET", "/api/v1/tokens").status_code == 403

    assert as_token(app, agent_token, "GET", "/api/v1/conversations").status_code == 200
    for method, path in (("GET", "/api/v1/tokens"), ("GET", "/api/v1/audit")):
        assert as_token(app, agent_token, method, path).status_code == 403
    site = as_token(app, agent_token, "POST", "/api/v1/sites", json={"name": "nope"})
    assert site.status_code == 403


def test_tokens_follow_their_creators_role_and_account(app: AppServer, owner: Account) -> None:
    """Demoting the creator caps an admin token to agent at once; disabling them stops it."""
    creator = create_account(app, owner, "admin")
    secret = make_token(app, creator, "admin")["secret"]
    assert as_token(app, secret, "GET", "/api/v1/tokens").status_code == 200
    uid = creator.user["id"]
    assert call(app, owner, "PATCH", f"/api/v1/users/{uid}", json={"role": "agent"}).is_success
    assert as_token(app, secret, "GET", "/api/v1/tokens").status_code == 403
    assert as_token(app, secret, "GET", "/api/v1/conversations").status_code == 200
    assert call(app, owner, "PATCH", f"/api/v1/users/{uid}", json={"disabled": True}).is_success
    assert as_token(app, secret, "GET", "/api/v1/conversations").status_code == 401


def test_tokens_are_confined_to_their_tenant(app: AppServer, owner: Account) -> None:
    """Another tenant neither lists nor revokes our tokens (404), and its tokens see none of
    our conversations."""
    ours = make_token(app, owner, "admin")["token"]
    other = other_tenant_account(app, "owner")
    assert ours["id"] not in [t["id"] for t in listed(app, other)]
    assert call(app, other, "DELETE", f"/api/v1/tokens/{ours['id']}").status_code == 404
    assert ours["id"] in [t["id"] for t in listed(app, owner)]

    _, said = visitor_says(app, word())
    theirs = make_token(app, other, "owner")["secret"]
    cid = said["conversation_id"]
    assert as_token(app, theirs, "GET", f"/api/v1/conversations/{cid}").status_code == 404
    listing = as_token(app, theirs, "GET", "/api/v1/conversations", params={"status": "all"})
    assert cid not in [c["id"] for c in listing.json()["conversations"]]


def test_the_secret_is_stored_hashed_and_never_logged(
    app: AppServer, owner: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the database files nor any log line hold the secret; the row holds its SHA-256."""
    caplog.set_level(logging.DEBUG)
    made = make_token(app, owner, "agent")
    secret = made["secret"]
    as_token(app, secret, "GET", "/api/v1/conversations")
    call(app, owner, "DELETE", f"/api/v1/tokens/{made['token']['id']}")
    as_token(app, secret, "GET", "/api/v1/conversations")

    [row] = query(app, "SELECT secret_hash FROM api_tokens WHERE id = ?", (made["token"]["id"],))
    stored = row["secret_hash"]
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    # Read by another process: closing any descriptor of the database file in this one would
    # drop the in-process server's SQLite locks on it (POSIX lock semantics).
    for path in app.data_dir.glob("omnichat.sqlite*"):
        found = subprocess.run(["grep", "-c", "-F", "-a", secret, str(path)], capture_output=True)
        assert found.returncode == 1, path.name
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert lines, "the requests were logged"
    assert not [line for line in lines if secret in line or secret[5:] in line]


def test_audit_names_the_token(app: AppServer, owner: Account) -> None:
    """Creating and revoking a token are audited, and a write done with a token names it."""
    name = token_name("Booking")
    made = make_token(app, owner, "admin", name)
    token_id = made["token"]["id"]
    created = as_token(app, made["secret"], "POST", "/api/v1/sites", json={"name": "Via token"})
    assert created.status_code == 201, created.text
    assert call(app, owner, "DELETE", f"/api/v1/tokens/{token_id}").status_code == 204

    entries = audit_entries(app, owner)
    about = {e["action"]: e for e in entries if e["target"] == f"token:{token_id}"}
    person = {"id": owner.user["id"], "name": owner.user["name"]}
    assert about["token.created"]["details"] == {"name": name, "role": "admin"}
    assert about["token.created"]["actor"] == person
    assert about["token.revoked"]["actor"] == person
    site_entry = next(
        e for e in entries if e["action"] == "site.created" and e["details"]["name"] == "Via token"
    )
    assert site_entry["actor"] == {**person, "token": {"id": token_id, "name": name}}


def test_account_endpoints_are_for_people(app: AppServer, owner: Account) -> None:
    """With a token, /auth/me names the token; password, sign-out, availability and making
    tokens are 403 `api_token_not_allowed` or forbidden."""
    made = make_token(app, owner, "admin")
    secret = made["secret"]
    me = as_token(app, secret, "GET", "/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == owner.user["id"]
    assert me.json()["token"] == {
        "id": made["token"]["id"],
        "name": made["token"]["name"],
        "role": "admin",
    }
    for method, path, body in (
        ("POST", "/api/v1/auth/password", {"current_password": "a", "new_password": "b" * 12}),
        ("POST", "/api/v1/auth/logout", {}),
        ("PATCH", "/api/v1/auth/me", {"availability": "away"}),
    ):
        response = as_token(app, secret, method, path, json=body)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "api_token_not_allowed"
    minted = as_token(app, secret, "POST", "/api/v1/tokens", json={"name": "x", "role": "agent"})
    assert minted.status_code == 403
    assert as_token(app, secret, "GET", "/api/v1/conversations").status_code == 200


async def test_tokens_do_not_open_agent_sockets(app: AppServer, owner: Account) -> None:
    """An API token in the agent socket's hello closes it with 4401."""
    secret = make_token(app, owner, "owner")["secret"]
    async with app.websocket("/ws/agent") as ws:
        await send(ws, {"type": "hello", "token": secret, "last_event_id": None})
        assert await closed_with(ws) == 4401
