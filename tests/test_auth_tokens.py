"""Access tokens: what the decoder accepts, and that the app answers every bad token with 401."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from omnichat.accounts import tokens
from omnichat.errors import NotAuthenticated
from tests.app_server import AppServer
from tests.staff import bearer, sign_in_owner

SECRET = "s" * 64
OTHER_SECRET = "o" * 64


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "7", "tid": 1, "sid": 3, "role": "agent", "typ": "access", "iat": now}
    base["exp"] = now + 60
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def unsigned(payload: dict[str, Any]) -> str:
    """A token with `alg: none`, as an attacker would write it."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def tamper(token: str) -> str:
    """The same token with its role claim changed and the old signature kept."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["role"] = "agent" if data["role"] != "agent" else "owner"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_issued_token_decodes_to_its_claims() -> None:
    """A token we issue decodes to the same user, tenant, session, role and expiry."""
    token, expires_at = tokens.issue_access(
        SECRET, user_id=7, tenant_id=1, session_id=3, role="admin", ttl=900
    )
    decoded = tokens.decode_access(SECRET, token)
    assert (decoded.user_id, decoded.tenant_id, decoded.session_id) == (7, 1, 3)
    assert decoded.role == "admin" and decoded.expires_at == expires_at
    assert abs(expires_at - time.time() - 900) < 5
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


# Made when the test runs, not at import: a token minted at collection with a minute to live
# would have expired by the time a long run reaches it, and be refused for that reason alone.
BAD_TOKENS: dict[str, Callable[[], str]] = {
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 1), SECRET, algorithm="HS256"),
    "alg none": lambda: unsigned(claims()),
    "wrong typ": lambda: jwt.encode(claims(typ="refresh"), SECRET, algorithm="HS256"),
    "other secret": lambda: jwt.encode(claims(), OTHER_SECRET, algorithm="HS256"),
    "other algorithm": lambda: jwt.encode(claims(), SECRET, algorithm="HS512"),
    "no session id": lambda: jwt.encode(claims(sid=None), SECRET, algorithm="HS256"),
    "no typ": lambda: jwt.encode(claims(typ=None), SECRET, algorithm="HS256"),
    "no iat": lambda: jwt.encode(claims(iat=None), SECRET, algorithm="HS256"),
    "non-numeric sub": lambda: jwt.encode(claims(sub="seven"), SECRET, algorithm="HS256"),
    "string tenant": lambda: jwt.encode(claims(tid="1"), SECRET, algorithm="HS256"),
    "Arabic-Indic digit sub": lambda: jwt.encode(claims(sub="\u0661"), SECRET, algorithm="HS256"),
    "full-width digit sub": lambda: jwt.encode(claims(sub="\uff17"), SECRET, algorithm="HS256"),
    "leading zero sub": lambda: jwt.encode(claims(sub="07"), SECRET, algorithm="HS256"),
    "zero sub": lambda: jwt.encode(claims(sub="0"), SECRET, algorithm="HS256"),
    "sub past 64 bits": lambda: jwt.encode(claims(sub=str(2**63)), SECRET, algorithm="HS256"),
    "sid past 64 bits": lambda: jwt.encode(claims(sid=2**70), SECRET, algorithm="HS256"),
    "tid past 64 bits": lambda: jwt.encode(claims(tid=2**63), SECRET, algorithm="HS256"),
    "zero sid": lambda: jwt.encode(claims(sid=0), SECRET, algorithm="HS256"),
    "negative sid": lambda: jwt.encode(claims(sid=-3), SECRET, algorithm="HS256"),
    "float sid": lambda: jwt.encode(claims(sid=3.0), SECRET, algorithm="HS256"),
    "boolean sid": lambda: jwt.encode(claims(sid=True), SECRET, algorithm="HS256"),
    "exp past 64 bits": lambda: jwt.encode(claims(exp=2**70), SECRET, algorithm="HS256"),
    "garbage": lambda: "not.a.token",
}


@pytest.mark.parametrize("why", BAD_TOKENS)
def test_bad_tokens_are_refused(why: str) -> None:
    """Expired, unsigned, foreign, mistyped or incomplete tokens raise NotAuthenticated."""
    token = BAD_TOKENS[why]()
    with pytest.raises(NotAuthenticated):
        tokens.decode_access(SECRET, token)


def test_tampered_payload_is_refused() -> None:
    """Changing the role inside a signed token breaks its signature."""
    token, _ = tokens.issue_access(
        SECRET, user_id=7, tenant_id=1, session_id=3, role="agent", ttl=900
    )
    with pytest.raises(NotAuthenticated):
        tokens.decode_access(SECRET, tamper(token))


def test_refresh_tokens_are_long_and_stored_as_digests() -> None:
    """Refresh tokens carry 256 random bits; what is stored is a SHA-256 hex digest."""
    token = tokens.new_refresh_token()
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert token != tokens.new_refresh_token()
    assert len(tokens.digest(token)) == 64 and token not in tokens.digest(token)


def server_claims(app: AppServer, **overrides: Any) -> dict[str, Any]:
    """Claims naming the real owner's real session, so only the changed part can fail."""
    account = sign_in_owner(app)
    real = jwt.decode(account.access_token, options={"verify_signature": False})
    return {**real, **overrides}


def server_secret(app: AppServer) -> str:
    return (app.data_dir / "secret_key").read_text().strip()


@pytest.mark.parametrize("case", ["expired", "none", "typ", "other", "tampered", "missing"])
def test_server_answers_bad_tokens_with_401_envelope(app: AppServer, case: str) -> None:
    """The API refuses each kind of bad access token with 401 and the error envelope."""
    secret = server_secret(app)
    payload = server_claims(app)
    token = {
        "expired": lambda: jwt.encode({**payload, "exp": int(time.time()) - 5}, secret, "HS256"),
        "none": lambda: unsigned(payload),
        "typ": lambda: jwt.encode({**payload, "typ": "refresh"}, secret, "HS256"),
        "other": lambda: jwt.encode(payload, "x" * 64, "HS256"),
        "tampered": lambda: tamper(jwt.encode(payload, secret, "HS256")),
        "missing": lambda: None,
    }[case]()
    headers = {} if token is None else bearer(token)
    response = app.http.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] in ("not_authenticated", "token_expired") and error["message"]
    if case == "expired":
        assert error["code"] == "token_expired"


@pytest.mark.parametrize(
    "overrides",
    [
        {"sid": 2**70},
        {"tid": 2**70},
        {"sub": str(2**70)},
        {"sub": "\u0661"},
        {"sub": "\u0661", "sid": 2**70},
        {"iat": 2**70},
        {"exp": 2**70},
    ],
    ids=["sid 2**70", "tid 2**70", "sub 2**70", "sub Arabic-Indic 1", "both", "iat", "exp"],
)
def test_out_of_range_claims_signed_with_the_real_key_answer_401(
    app: AppServer, overrides: dict[str, Any]
) -> None:
    """Claims signed with the server's own key but out of range (sid=2**70 answered 500) or in
    another script (sub "\u0661" read as user 1) answer 401, never 500 or another user."""
    payload = server_claims(app, **overrides)
    if "sub" in overrides and overrides["sub"] == "\u0661":
        # The bootstrap owner is user 1: the forged sub would have matched it.
        assert server_claims(app)["sub"] == "1"
    token = jwt.encode(payload, server_secret(app), "HS256")
    response = app.http.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "not_authenticated"


def test_correctly_signed_token_for_another_role_is_refused(app: AppServer) -> None:
    """Even a validly signed token is refused when its role is not the user's role now."""
    payload = server_claims(app, role="agent")
    token = jwt.encode(payload, server_secret(app), "HS256")
    response = app.http.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "role_changed"
