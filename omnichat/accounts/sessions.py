"""Staff sessions: one row per refresh-token family, and the tokens each family has used up.

Refreshing replaces the family's current token and keeps the digest of the old one. An old token
coming back means two parties hold the family (a stolen token, or a client that kept one it
should have dropped); we cannot tell which is which, so the whole family is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from omnichat import times
from omnichat.storage.db import Row, Tx

# Ended sessions are kept this long (a replayed token still finds its family), then deleted.
KEEP_ENDED = timedelta(days=7)


@dataclass(frozen=True)
class Session:
    id: int
    tenant_id: int
    user_id: int
    expires_at: str
    revoked_at: str | None

    @classmethod
    def from_row(cls, row: Row) -> Session:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
        )

    @property
    def live(self) -> bool:
        return self.revoked_at is None and self.expires_at > times.now_iso()


def _expiry(ttl_seconds: int) -> str:
    return times.iso(times.now() + timedelta(seconds=ttl_seconds))


async def start(
    tx: Tx,
    *,
    tenant_id: int,
    user_id: int,
    token_hash: str,
    ttl_seconds: int,
    ip: str | None,
    user_agent: str | None,
) -> int:
    """Open a session (a new family) whose current refresh token has digest `token_hash`."""
    now = times.now_iso()
    return await tx.execute(
        "INSERT INTO sessions (tenant_id, user_id, token_hash, ip, user_agent, created_at,"
        " refreshed_at, expires_at) VALUES (:tenant_id, :user_id, :token_hash, :ip,"
        " :user_agent, :now, :now, :expires_at)",
        {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "token_hash": token_hash,
            "ip": ip,
            "user_agent": (user_agent or "")[:200] or None,
            "now": now,
            "expires_at": _expiry(ttl_seconds),
        },
    )


SESSION_COLUMNS = "s.id, s.tenant_id, s.user_id, s.expires_at, s.revoked_at"


async def by_token(tx: Tx, token_hash: str) -> Session | None:
    """The session whose current refresh token has this digest, locked until commit: of two
    refreshes with one token at once (two processes), the second finds it rotated away."""
    row = await tx.fetch_one(
        f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.token_hash = :hash" + tx.for_update,
        {"hash": token_hash},
    )
    return None if row is None else Session.from_row(row)


async def by_used_token(tx: Tx, token_hash: str) -> Session | None:
    """The session that once had, and has since replaced, a refresh token with this digest."""
    row = await tx.fetch_one(
        f"SELECT {SESSION_COLUMNS} FROM rotated_tokens r"
        " JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = :hash",
        {"hash": token_hash},
    )
    return None if row is None else Session.from_row(row)


async def rotate(
    tx: Tx, session_id: int, old_hash: str, new_hash: str, ttl_seconds: int, ip: str | None
) -> None:
    """Make `new_hash` the current token, remember `old_hash` as used, slide the expiry.

    Used tokens older than the session lifetime are forgotten, so a session refreshed for months
    keeps a bounded list; one of them coming back is then merely unknown.
    """
    now = times.now_iso()
    await tx.execute(
        "DELETE FROM rotated_tokens WHERE session_id = :session_id AND rotated_at < :cutoff",
        {
            "session_id": session_id,
            "cutoff": times.iso(times.now() - timedelta(seconds=ttl_seconds)),
        },
    )
    await tx.execute(
        "INSERT INTO rotated_tokens (token_hash, session_id, rotated_at)"
        " VALUES (:hash, :session_id, :now)",
        {"hash": old_hash, "session_id": session_id, "now": now},
    )
    await tx.execute(
        "UPDATE sessions SET token_hash = :hash, refreshed_at = :now, expires_at = :expires_at,"
        " ip = :ip WHERE id = :session_id",
        {
            "hash": new_hash,
            "now": now,
            "expires_at": _expiry(ttl_seconds),
            "ip": ip,
            "session_id": session_id,
        },
    )


async def revoke(tx: Tx, session_id: int, reason: str) -> bool:
    """End a session; returns whether it was live until now."""
    changed = await tx.execute(
        "UPDATE sessions SET revoked_at = :now, revoked_reason = :reason"
        " WHERE id = :session_id AND revoked_at IS NULL",
        {"now": times.now_iso(), "reason": reason, "session_id": session_id},
    )
    return changed > 0


async def revoke_user(tx: Tx, user_id: int, reason: str, keep: int | None = None) -> list[int]:
    """End every open session of a user (except `keep`); returns the ids ended."""
    rows = await tx.fetch_all(
        "SELECT id FROM sessions WHERE user_id = :user_id AND revoked_at IS NULL"
        " AND id IS DISTINCT FROM :keep",
        {"user_id": user_id, "keep": keep},
    )
    ended = [row["id"] for row in rows]
    await tx.execute(
        "UPDATE sessions SET revoked_at = :now, revoked_reason = :reason"
        " WHERE user_id = :user_id AND revoked_at IS NULL AND id IS DISTINCT FROM :keep",
        {"now": times.now_iso(), "reason": reason, "user_id": user_id, "keep": keep},
    )
    return ended


async def prune(tx: Tx, user_id: int) -> None:
    """Delete a user's sessions that ended more than `KEEP_ENDED` ago (run at each login)."""
    cutoff = times.iso(times.now() - KEEP_ENDED)
    await tx.execute(
        "DELETE FROM sessions WHERE user_id = :user_id"
        " AND (expires_at < :cutoff OR revoked_at < :cutoff)",
        {"user_id": user_id, "cutoff": cutoff},
    )
