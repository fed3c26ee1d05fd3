"""API tokens: long-lived secrets other programs use as `Authorization: Bearer omni_...`.

A token belongs to a tenant and acts for the staff member who made it, with the role it was
given, never above that person's current role (re-read on every request, like an access
token's session): demote the creator and the token is capped with them, disable them and it
stops working. The secret holds 256 random bits and is stored only as its SHA-256, so a fast
digest is enough and the lookup is one indexed read. Revoked tokens keep their row so the
audit log can still name them.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from omnichat import times
from omnichat.accounts import audit
from omnichat.accounts.staff import ROLES, Staff, rank
from omnichat.accounts.tokens import digest
from omnichat.errors import Forbidden, Invalid, NotAuthenticated, NotFound
from omnichat.storage.db import Database, Row, Tx

# What tells an API token from an access token (a JWT never starts with it) and what secret
# scanners can look for.
PREFIX = "omni_"
MAX_NAME = 100
# `last_used_at` is a hint for people, not a log: it is written at most this often per token,
# so a busy integration does not turn every request into a write.
TOUCH_EVERY = timedelta(seconds=60)

COLUMNS = "id, tenant_id, user_id, name, role, created_at, last_used_at, revoked_at"


@dataclass(frozen=True)
class ApiToken:
    id: int
    tenant_id: int
    user_id: int
    name: str
    role: str
    created_at: str
    last_used_at: str | None

    @classmethod
    def from_row(cls, row: Row) -> ApiToken:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            name=row["name"],
            role=row["role"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
        )

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
        }


def is_api_token(bearer: str) -> bool:
    return bearer.startswith(PREFIX)


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def parse_name(value: object) -> str:
    """A token's name: 1 to 100 characters after trimming, no control characters."""
    if not isinstance(value, str):
        raise Invalid("name", "must be a string" if value is not None else "is required")
    name = value.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise Invalid("name", f"must be 1 to {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise Invalid("name", "must not contain control characters")
    return name


def parse_role(value: object) -> str:
    for role in ROLES:
        if value == role:
            return role
    raise Invalid("role", f"must be one of {', '.join(ROLES)}")


async def create(
    db: Database, staff: Staff, name: str, role: str, *, ip: str | None
) -> tuple[ApiToken, str]:
    """A new token of the caller's tenant and its secret (returned this once, never again)."""
    if staff.token_id is not None:
        # A leaked token must not be able to mint others that outlive its revocation.
        raise Forbidden("API tokens cannot create API tokens; sign in as a person")
    if rank(role) > rank(staff.role):
        raise Forbidden(f"you cannot create a token with a role above your own ({staff.role})")
    secret = new_secret()

    async def op(tx: Tx) -> ApiToken:
        now = times.now_iso()
        token_id = await tx.execute(
            "INSERT INTO api_tokens (tenant_id, user_id, name, role, secret_hash, created_at)"
            " VALUES (:tenant, :user, :name, :role, :hash, :now)",
            {
                "tenant": staff.tenant_id,
                "user": staff.id,
                "name": name,
                "role": role,
                "hash": digest(secret),
                "now": now,
            },
        )
        await audit.record(
            tx,
            tenant_id=staff.tenant_id,
            actor_id=staff.id,
            action="token.created",
            target=f"token:{token_id}",
            details={"name": name, "role": role},
            ip=ip,
        )
        return ApiToken(token_id, staff.tenant_id, staff.id, name, role, now, None)

    return await db.write(op), secret


async def tenant_tokens(db: Database, tenant_id: int) -> list[ApiToken]:
    """The tenant's live (unrevoked) tokens, oldest first."""
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM api_tokens"
        " WHERE tenant_id = :tenant AND revoked_at IS NULL ORDER BY id",
        {"tenant": tenant_id},
    )
    return [ApiToken.from_row(row) for row in rows]


async def revoke(db: Database, staff: Staff, token_id: int, *, ip: str | None) -> None:
    """Revoke a live token of the caller's tenant (else `NotFound`); its next request is 401."""

    async def op(tx: Tx) -> None:
        row = await tx.fetch_one(
            f"SELECT {COLUMNS} FROM api_tokens"
            " WHERE id = :id AND tenant_id = :tenant AND revoked_at IS NULL" + tx.for_update,
            {"id": token_id, "tenant": staff.tenant_id},
        )
        if row is None:
            raise NotFound("no such API token")
        await tx.execute(
            "UPDATE api_tokens SET revoked_at = :now WHERE id = :id",
            {"now": times.now_iso(), "id": token_id},
        )
        await audit.record(
            tx,
            tenant_id=staff.tenant_id,
            actor_id=staff.id,
            action="token.revoked",
            target=f"token:{token_id}",
            details={"name": row["name"], "role": row["role"]},
            ip=ip,
            token_id=staff.token_id,
        )

    await db.write(op)


async def authenticate(db: Database, secret: str) -> Staff:
    """The caller a token secret stands for, or `NotAuthenticated`.

    Refused: an unknown or revoked token, a creator who is disabled or has left the tenant.
    The role is the lower of the token's and the creator's current one.
    """
    row = await db.fetch_one(
        "SELECT t.id, t.tenant_id, t.name AS token_name, t.role AS token_role, t.last_used_at,"
        " t.revoked_at, u.id AS user_id, u.tenant_id AS user_tenant_id, u.email, u.name,"
        " u.role, u.disabled FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.secret_hash = :hash",
        {"hash": digest(secret)},
    )
    if row is None or row["revoked_at"] is not None or row["user_tenant_id"] != row["tenant_id"]:
        raise NotAuthenticated("API token is not valid")
    if row["disabled"]:
        raise NotAuthenticated("the account that made this API token is disabled")
    await _touch(db, row["id"], row["last_used_at"])
    role = min(row["token_role"], row["role"], key=rank)
    return Staff(
        id=row["user_id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        name=row["name"],
        role=role,
        session_id=0,
        must_change_password=False,
        # Tokens never open sockets; were one to try, it would count as expired.
        expires_at=0,
        token_id=row["id"],
        token_name=row["token_name"],
    )


async def _touch(db: Database, token_id: int, last_used_at: str | None) -> None:
    """Record the use when the stored time is more than `TOUCH_EVERY` old."""
    cutoff = times.iso(times.now() - TOUCH_EVERY)
    if last_used_at is not None and last_used_at > cutoff:
        return

    async def op(tx: Tx) -> None:
        # Guarded again in SQL: requests arriving together all saw the old time.
        await tx.execute(
            "UPDATE api_tokens SET last_used_at = :now"
            " WHERE id = :id AND (last_used_at IS NULL OR last_used_at <= :cutoff)",
            {"now": times.now_iso(), "id": token_id, "cutoff": cutoff},
        )

    await db.write(op)
