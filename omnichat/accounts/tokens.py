"""Access tokens (short JWTs) and refresh tokens (opaque secrets stored only as digests).

The prototype signed tokens with a default secret and never let them expire. Here the algorithm
is pinned to HS256 (so `alg: none` and algorithm confusion are refused), every claim we rely on
is required, and `typ` keeps any other token we might sign from passing as an access token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt

from omnichat.errors import NotAuthenticated
from omnichat.ids import digits, whole_number

ALGORITHM = "HS256"
ACCESS = "access"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "tid", "sid", "role", "typ"]


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    tenant_id: int
    session_id: int
    role: str
    issued_at: int
    expires_at: int


def issue_access(
    secret: str, *, user_id: int, tenant_id: int, session_id: int, role: str, ttl: int
) -> tuple[str, int]:
    """A signed access token and its expiry (Unix seconds)."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "tid": tenant_id,
        "sid": session_id,
        "role": role,
        "typ": ACCESS,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), now + ttl


def decode_access(secret: str, token: str) -> AccessClaims:
    """The claims of a valid access token, or `NotAuthenticated` saying (briefly) why not."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("access token expired", code="token_expired") from None
    except jwt.InvalidTokenError:
        raise NotAuthenticated("access token is not valid") from None
    if claims["typ"] != ACCESS or not isinstance(claims["role"], str):
        raise NotAuthenticated("access token is not valid")
    return AccessClaims(
        user_id=claim_number(claims["sub"], text=True),
        tenant_id=claim_number(claims["tid"]),
        session_id=claim_number(claims["sid"]),
        role=claims["role"],
        issued_at=claim_number(claims["iat"]),
        expires_at=claim_number(claims["exp"]),
    )


def claim_number(value: object, *, text: bool = False) -> int:
    """A whole-number claim (an id or a time), or `NotAuthenticated`: one parser for them all.

    JSON integers, except `sub`, which JWT makes a string: then canonical ASCII decimal digits
    only (`str.isdigit` and `int` also take other scripts' digits, U+0661 for 1; no sign, space,
    '_' or leading zero). Either way 1 to 2**63-1: a larger number cannot be a SQLite id and
    would not even bind to a query.
    """
    if text:
        number = digits(value, canonical=True) if isinstance(value, str) else None
    else:
        number = whole_number(value)
    if number is None:
        raise NotAuthenticated("access token is not valid")
    return number


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What we store for a token: its SHA-256, so a database leak yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()
