"""Who is calling: a staff member authenticated by an access token, re-checked on every request.

A valid signature is not enough: the session behind the token must still be live and the user
must still exist, be enabled and hold the role the token names. That costs one indexed read per
request and means a logout, a disabled account or a role change takes effect at once instead of
when the token expires. The agent API and the agent socket both authenticate through here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from omnichat import times
from omnichat.accounts import tokens
from omnichat.errors import Forbidden, NotAuthenticated
from omnichat.settings import Settings
from omnichat.storage.db import Database

ROLES = ("agent", "admin", "owner")


def rank(role: str) -> int:
    """Roles nest: owner ⊃ admin ⊃ agent."""
    return ROLES.index(role)


@dataclass(frozen=True)
class Staff:
    id: int
    tenant_id: int
    email: str
    name: str
    role: str
    session_id: int
    must_change_password: bool
    # When the access token expires (Unix seconds): a socket closes with 4401 then.
    expires_at: int
    # Set when the caller is a program using an API token made by this staff member
    # (`accounts/api_tokens.py`); audit entries of its writes name the token.
    token_id: int | None = None
    token_name: str | None = None

    def has_role(self, role: str) -> bool:
        return rank(self.role) >= rank(role)

    def seconds_left(self) -> float:
        return self.expires_at - time.time()


async def authenticate(db: Database, settings: Settings, access_token: str) -> Staff:
    """The staff member behind `access_token`, or `NotAuthenticated`.

    Refused: a bad, expired, unsigned or foreign-signed token, a token that is not an access
    token, a revoked or expired session, a deleted or disabled user, a changed role.
    """
    claims = tokens.decode_access(str(settings.security.secret_key), access_token)
    row = await db.fetch_one(
        "SELECT u.id, u.tenant_id, u.email, u.name, u.role, u.disabled, u.must_change_password,"
        " s.revoked_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.id = :session_id",
        {"session_id": claims.session_id},
    )
    if row is None or row["id"] != claims.user_id or row["tenant_id"] != claims.tenant_id:
        raise NotAuthenticated("access token is not valid")
    if row["revoked_at"] is not None or row["expires_at"] <= times.now_iso():
        raise NotAuthenticated("session has ended; sign in again", code="session_revoked")
    if row["disabled"]:
        raise NotAuthenticated("account is disabled", code="account_disabled")
    if row["role"] != claims.role:
        raise NotAuthenticated("role changed; refresh the access token", code="role_changed")
    return Staff(
        id=row["id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        session_id=claims.session_id,
        must_change_password=bool(row["must_change_password"]),
        expires_at=claims.expires_at,
    )


def authorize(staff: Staff, role: str = "agent") -> None:
    """Raise `Forbidden` unless `staff` holds `role` and has no password change pending.

    Until a generated password is changed, only the account endpoints (me, password, logout,
    refresh) work; they skip this check.
    """
    if staff.must_change_password:
        raise Forbidden(
            "change your password before doing anything else", code="password_change_required"
        )
    if not staff.has_role(role):
        raise Forbidden(f"this needs the {role} role")
