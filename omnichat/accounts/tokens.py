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
    user_id, tenant_id, session_id = claims["sub"], claims["tid"], claims["sid"]
    if (
        claims["typ"] != ACCESS
        or not isinstance(claims["role"], str)
        or not (isinstance(user_id, str) and user_id.isdigit())
        or not all(_is_int(value) for value in (tenant_id, session_id, claims["iat"]))
    ):
        raise NotAuthenticated("access token is not valid")
    return AccessClaims(
        user_id=int(user_id),
        tenant_id=tenant_id,
        session_id=session_id,
        role=claims["role"],
        issued_at=claims["iat"],
        expires_at=int(claims["exp"]),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What we store for a token: its SHA-256, so a database leak yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()
