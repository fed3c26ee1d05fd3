"""Password rules and password changes, including the forced change of a generated password."""

from __future__ import annotations

import re

import pytest

from tests.agents import agent_socket
from tests.app_server import AppServer
from tests.servers import OWNER_EMAIL
from tests.staff import (
    Account,
    closed_with,
    create_account,
    login,
    login_response,
    unique_ip,
)
from tests.visitors import next_frame, send


def change(app: AppServer, account: Account, new: str, current: str | None = None):  # type: ignore[no-untyped-def]
    return app.http.post(
        "/api/v1/auth/password",
        json={"current_password": current or account.password, "new_password": new},
        headers=account.headers,
    )


@pytest.mark.parametrize(
    ("new", "why"),
    [
        ("short1!", "short"),
        ("password123", "common"),
        ("Qwertyuiop", "common"),
        ("x" * 129, "long"),
    ],
)
def test_weak_or_overlong_passwords_are_refused(
    app: AppServer, owner: Account, new: str, why: str
) -> None:
    """Under 8 characters, a common password, or over 128 characters: 422 naming new_password."""
    agent = create_account(app, owner, "agent")
    response = change(app, agent, new)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("new_password:")
    assert login_response(app, agent.user["email"], agent.password).status_code == 200


def test_128_characters_work_and_are_not_truncated(app: AppServer, owner: Account) -> None:
    """A 128-character password is accepted; one differing only in its last character fails."""
    agent = create_account(app, owner, "agent")
    longest = "p" * 127 + "!"
    assert change(app, agent, longest).status_code == 200
    assert login_response(app, agent.user["email"], longest).status_code == 200
    ip = unique_ip()
    assert login_response(app, agent.user["email"], "p" * 127 + "?", ip).status_code == 401


def test_passwords_sharing_the_first_72_bytes_are_different(app: AppServer, owner: Account) -> None:
    """Two 100-character passwords equal in their first 72 bytes are not interchangeable."""
    agent = create_account(app, owner, "agent")
    first, second = "a" * 72 + "b" * 28, "a" * 72 + "c" * 28
    assert change(app, agent, first).status_code == 200
    assert login_response(app, agent.user["email"], second, unique_ip()).status_code == 401
    assert login_response(app, agent.user["email"], first).status_code == 200


def test_wrong_current_password_or_no_change_is_refused(app: AppServer, owner: Account) -> None:
    """A wrong current password names current_password; the same password again is refused."""
    agent = create_account(app, owner, "agent")
    wrong = change(app, agent, "brand-new-password-1", current="not-my-password")
    assert wrong.status_code == 422
    assert wrong.json()["error"]["message"].startswith("current_password:")
    same = change(app, agent, agent.password)
    assert same.status_code == 422 and "new_password" in same.json()["error"]["message"]


def test_password_change_ends_other_sessions_but_not_this_one(
    app: AppServer, owner: Account
) -> None:
    """After a change, the other sessions' tokens fail while the changing session goes on."""
    agent = create_account(app, owner, "agent")
    other = login(app, agent.user["email"], agent.password)
    assert change(app, agent, "another-fine-password").status_code == 200
    url = "/api/v1/auth/me"
    assert app.http.get(url, headers=other.headers).status_code == 401
    refreshed = app.http.post("/api/v1/auth/refresh", json={"refresh_token": other.refresh_token})
    assert refreshed.status_code == 401
    assert app.http.get(url, headers=agent.headers).status_code == 200
    assert login_response(app, agent.user["email"], agent.password, unique_ip()).status_code == 401


def test_generated_owner_password_must_be_changed_first(start_server) -> None:  # type: ignore[no-untyped-def]
    """Without a bootstrap password the owner gets a generated one; until it is changed only
    me, password, refresh and logout work, everything else answers password_change_required."""
    server = start_server(OMNICHAT_BOOTSTRAP_PASSWORD=None)
    match = re.search(r"with the password (\S+)", server.stdout())
    assert match is not None
    generated = match.group(1)
    assert generated not in server.logs()
    account = login(server, OWNER_EMAIL, generated)
    assert account.user["must_change_password"] is True
    for method, path in [
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/sites"),
        ("GET", "/api/v1/audit"),
    ]:
        blocked = server.http.request(method, path, headers=account.headers)
        assert blocked.status_code == 403
        assert blocked.json()["error"]["code"] == "password_change_required"
    assert server.http.get("/api/v1/auth/me", headers=account.headers).status_code == 200
    refreshed = server.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert refreshed.status_code == 200
    account.access_token = refreshed.json()["access_token"]
    spare = login(server, OWNER_EMAIL, generated)
    assert server.http.post("/api/v1/auth/logout", headers=spare.headers).status_code == 204
    changed = change(server, account, "my-own-secret-phrase")
    assert changed.status_code == 200
    assert changed.json()["user"]["must_change_password"] is False
    assert server.http.get("/api/v1/users", headers=account.headers).status_code == 200


async def test_password_change_closes_other_sessions_sockets(
    app: AppServer, owner: Account
) -> None:
    """Changing the password closes the other sessions' sockets, not this session's."""
    agent = create_account(app, owner, "agent")
    other = login(app, agent.user["email"], agent.password)
    async with (
        agent_socket(app, other.access_token) as (gone, _),
        agent_socket(app, agent.access_token) as (kept, _),
    ):
        assert change(app, agent, "yet-another-password").status_code == 200
        assert await closed_with(gone) == 4401
        await send(kept, {"type": "ping"})
        assert (await next_frame(kept, "pong"))["type"] == "pong"
