"""Signing in and out, in process: tokens, rotation, reuse, logout, throttling."""

from __future__ import annotations

import uuid

import httpx
import jwt

from tests.agents import agent_socket
from tests.app_server import AppServer
from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess
from tests.staff import (
    Account,
    bearer,
    closed_with,
    create_account,
    create_user_cli,
    login,
    login_response,
    sign_in_owner,
    unique_email,
    unique_ip,
)
from tests.timing import eventually
from tests.visitors import next_frame, send


def me(app: AppServer, access_token: str) -> httpx.Response:
    return app.http.get("/api/v1/auth/me", headers=bearer(access_token))


def refresh(app: AppServer, refresh_token: str) -> httpx.Response:
    return app.http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def audit_actions(app: AppServer, admin: Account, limit: int = 200) -> list[dict]:
    response = app.http.get("/api/v1/audit", params={"limit": limit}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


def test_login_returns_short_lived_bearer_tokens(app: AppServer) -> None:
    """Login answers the contract's fields; the JWT is HS256 with every required claim."""
    response = login_response(app, OWNER_EMAIL, OWNER_PASSWORD)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["user"]["email"] == OWNER_EMAIL and body["user"]["role"] == "owner"
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub", "tid", "role", "typ", "sid"} <= set(claims)
    assert claims["typ"] == "access" and claims["exp"] - claims["iat"] == 900
    assert len(body["refresh_token"]) >= 43
    assert me(app, body["access_token"]).json()["user"]["email"] == OWNER_EMAIL


def test_email_is_matched_without_case(app: AppServer) -> None:
    """Signing in with the email in other letter case works."""
    assert login_response(app, OWNER_EMAIL.upper(), OWNER_PASSWORD).status_code == 200


def test_wrong_password_and_unknown_email_answer_alike(app: AppServer) -> None:
    """Both answer 401 invalid_credentials with the same message, so emails cannot be probed."""
    ip = unique_ip()
    wrong = login_response(app, OWNER_EMAIL, "not-the-password", ip)
    unknown = login_response(app, "nobody-here@example.com", "not-the-password", ip)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_malformed_login_bodies_are_named(app: AppServer) -> None:
    """A missing or non-string field is a 422 naming it; a non-JSON body is a 400."""
    url = "/api/v1/auth/login"
    missing = app.http.post(url, json={"email": OWNER_EMAIL})
    assert missing.status_code == 422 and "password" in missing.json()["error"]["message"]
    typed = app.http.post(url, json={"email": ["x"], "password": "y"})
    assert typed.status_code == 422 and "email" in typed.json()["error"]["message"]
    assert app.http.post(url, content=b"{nope").status_code == 400


def test_refresh_rotates_the_pair(app: AppServer) -> None:
    """Refresh gives a new access and refresh token; both work, in the same session."""
    first = sign_in_owner(app)
    response = refresh(app, first.refresh_token)
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] != first.refresh_token
    assert me(app, body["access_token"]).status_code == 200
    old_claims = jwt.decode(first.access_token, options={"verify_signature": False})
    new_claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert old_claims["sid"] == new_claims["sid"]
    assert refresh(app, body["refresh_token"]).status_code == 200


def test_reused_refresh_token_revokes_the_family(app: AppServer) -> None:
    """Presenting a rotated refresh token ends the whole session: every token of it stops."""
    account = sign_in_owner(app)
    rotated = refresh(app, account.refresh_token).json()
    replay = refresh(app, account.refresh_token)
    assert replay.status_code == 401
    assert refresh(app, rotated["refresh_token"]).status_code == 401
    assert me(app, rotated["access_token"]).status_code == 401
    assert me(app, account.access_token).json()["error"]["code"] == "session_revoked"
    assert me(app, sign_in_owner(app).access_token).status_code == 200
    actions = audit_actions(app, sign_in_owner(app))
    assert any(entry["action"] == "auth.refresh_reused" for entry in actions)


def test_unknown_refresh_token_is_refused(app: AppServer) -> None:
    """A made-up refresh token, or an absurdly long one, answers 401."""
    assert refresh(app, "x" * 43).status_code == 401
    assert refresh(app, "x" * 10_000).status_code == 401


def test_logout_ends_the_session_only(app: AppServer) -> None:
    """After logout the session's access and refresh tokens fail; other sessions go on."""
    kept = sign_in_owner(app)
    account = sign_in_owner(app)
    response = app.http.post("/api/v1/auth/logout", headers=account.headers)
    assert response.status_code == 204
    assert me(app, account.access_token).status_code == 401
    assert refresh(app, account.refresh_token).status_code == 401
    assert me(app, kept.access_token).status_code == 200


def test_logout_everywhere_ends_every_session(app: AppServer) -> None:
    """`everywhere: true` signs the user out of all their sessions."""
    admin = create_account(app, sign_in_owner(app), "admin")
    other = login(app, admin.user["email"], admin.password)
    response = app.http.post(
        "/api/v1/auth/logout", json={"everywhere": True}, headers=admin.headers
    )
    assert response.status_code == 204
    assert me(app, other.access_token).status_code == 401
    assert refresh(app, other.refresh_token).status_code == 401


def test_logout_needs_a_token(app: AppServer) -> None:
    """Logout without a valid access token is a 401."""
    assert app.http.post("/api/v1/auth/logout").status_code == 401


def test_login_and_failures_are_audited(app: AppServer) -> None:
    """A failed and a successful sign-in each leave an entry with the address, no password."""
    boss = sign_in_owner(app)
    agent = create_account(app, boss, "agent")
    ip = unique_ip()
    assert login_response(app, agent.user["email"], "wrong-password-1", ip).status_code == 401
    login(app, agent.user["email"], agent.password, ip)
    entries = [e for e in audit_actions(app, boss) if e["target"] == f"user:{agent.user['id']}"]
    failed = next(e for e in entries if e["action"] == "auth.login_failed" and e["ip"] == ip)
    success = next(e for e in entries if e["action"] == "auth.login" and e["ip"] == ip)
    assert failed["details"] == {"reason": "wrong_password"}
    assert success["actor"]["id"] == agent.user["id"]
    assert "wrong-password-1" not in str(entries)


def test_failures_are_counted_on_the_account_until_success(app: AppServer) -> None:
    """The user record shows consecutive failed sign-ins; a success resets the count."""
    boss = sign_in_owner(app)
    agent = create_account(app, boss, "agent")
    ip = unique_ip()
    for _ in range(2):
        login_response(app, agent.user["email"], "wrong-password-1", ip)
    listed = app.http.get("/api/v1/users", headers=boss.headers).json()["users"]
    assert next(u for u in listed if u["id"] == agent.user["id"])["failed_logins"] == 2
    again = login(app, agent.user["email"], agent.password, ip)
    assert me(app, again.access_token).json()["user"]["failed_logins"] == 0


def test_pair_throttle_answers_429_and_spares_other_addresses(app: AppServer) -> None:
    """After 5 failures from one address the next try waits (429, Retry-After); the real user
    elsewhere signs in at once, and after the wait the right password works again."""
    agent = create_account(app, sign_in_owner(app), "agent")
    email, attacker = agent.user["email"], unique_ip()
    for _ in range(5):
        assert login_response(app, email, "guess-guess-guess", attacker).status_code == 401
    throttled = login_response(app, email, agent.password, attacker)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["retry-after"]) <= 2
    login(app, email, agent.password, unique_ip())
    eventually(
        lambda: login_response(app, email, agent.password, attacker).status_code != 429,
        5,
        "the attacker's address to be let in again with the right password",
    )


def test_per_ip_limit_answers_429_with_retry_after(start_app) -> None:  # type: ignore[no-untyped-def]
    """With limits.logins_per_minute_per_ip=3 the 4th failure in a minute from one address is
    refused (even with the right password) while other addresses still sign in."""
    app = start_app(OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP="3")
    ip = unique_ip()
    for index in range(3):
        assert login_response(app, f"u{index}@example.com", "nope-nope", ip).status_code == 401
    refused = login_response(app, OWNER_EMAIL, OWNER_PASSWORD, ip)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert login_response(app, OWNER_EMAIL, OWNER_PASSWORD, unique_ip()).status_code == 200
    metrics = app.http.get("/metrics").text
    assert 'omnichat_logins_total{outcome="throttled"} 1.0' in metrics
    assert 'omnichat_logins_total{outcome="failure"} 3.0' in metrics


async def test_logout_closes_the_sessions_sockets(app: AppServer) -> None:
    """Logging out closes that session's agent socket with 4401; another session's stays open."""
    boss = sign_in_owner(app)
    other = sign_in_owner(app)
    async with (
        agent_socket(app, boss.access_token) as (ws, _),
        agent_socket(app, other.access_token) as (kept, _),
    ):
        response = app.http.post("/api/v1/auth/logout", headers=boss.headers)
        assert response.status_code == 204
        assert await closed_with(ws) == 4401
        await send(kept, {"type": "ping"})
        assert (await next_frame(kept, "pong"))["type"] == "pong"


async def test_reused_refresh_token_closes_the_sessions_sockets(app: AppServer) -> None:
    """Replaying a rotated refresh token closes the family's sockets with 4401."""
    boss = sign_in_owner(app)
    async with agent_socket(app, boss.access_token) as (ws, _):
        assert refresh(app, boss.refresh_token).status_code == 200
        assert refresh(app, boss.refresh_token).status_code == 401
        assert await closed_with(ws) == 4401


def test_one_email_in_two_tenants_signs_in_where_the_password_opens(
    server: ServerProcess,
) -> None:
    """The same email in two tenants: each password opens its own account without a tenant;
    a password both share answers 409 tenant_required until `tenant` names one; naming the
    wrong tenant is a plain wrong password."""
    email, tenant = unique_email("shared"), f"t{uuid.uuid4().hex[:8]}"
    create_user_cli(server, email, "agent", "default", "password-of-default-1")
    create_user_cli(server, email, "agent", tenant, "password-of-other-22")
    here = login(server, email, "password-of-default-1")
    there = login(server, email.upper(), "password-of-other-22")
    assert here.user["id"] != there.user["id"]
    for account in (here, there):
        assert (
            httpx.get(f"{server.base_url}/api/v1/auth/me", headers=account.headers).json()["user"][
                "id"
            ]
            == account.user["id"]
        )
    wrong = login_response(server, email, "password-of-nobody-3")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"

    shared, shared_tenant = unique_email("same"), f"t{uuid.uuid4().hex[:8]}"
    create_user_cli(server, shared, "agent", "default", "one-password-for-both")
    create_user_cli(server, shared, "agent", shared_tenant, "one-password-for-both")
    ask = login_response(server, shared, "one-password-for-both")
    assert ask.status_code == 409 and ask.json()["error"]["code"] == "tenant_required"
    ids = set()
    for slug in ("default", shared_tenant):
        answer = httpx.post(
            f"{server.base_url}/api/v1/auth/login",
            json={"email": shared, "password": "one-password-for-both", "tenant": slug},
        )
        assert answer.status_code == 200, answer.text
        ids.add(answer.json()["user"]["id"])
    assert len(ids) == 2
    misnamed = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": email, "password": "password-of-default-1", "tenant": tenant},
    )
    assert misnamed.status_code == 401
    assert misnamed.json()["error"]["code"] == "invalid_credentials"
