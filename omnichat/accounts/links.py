"""Password-reset and invitation links: tokens mailed to a person, stored hashed, used once.

`forgot` answers the same whether the email has an account or not, after the same work: it
always makes and hashes a token and runs one write transaction that looks the address up; only
an address with an account gets a link and a queued mail. Asking is throttled per IP and per
address, so nobody can flood a mailbox or probe addresses fast. `reset` sets the new password
and ends every session of the user (their sockets close); `accept` finishes an invitation and
signs the new colleague in.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from omnichat import emails, times
from omnichat.accounts import audit, logins, passwords, sessions, tokens, users
from omnichat.accounts.logins import Tokens
from omnichat.accounts.users import User
from omnichat.errors import Invalid, RateLimited
from omnichat.notify import queue
from omnichat.notify.seal import Sealer
from omnichat.protocol.hub import CLOSE_AUTH
from omnichat.settings import Settings
from omnichat.storage.db import Database, Tx

LIFETIMES = {"reset": timedelta(hours=1), "invite": timedelta(days=7)}
# Asking for a reset: per IP, and per address whoever asks (a mailbox is not flooded).
PER_IP, IP_WINDOW = 10, 900.0
PER_ADDRESS, ADDRESS_WINDOW = 3, 3600.0
# Tokens we make are 43 characters; anything much longer is junk and skips the database.
MAX_TOKEN = 128
# One address may have an account in several tenants; each gets its link, up to this many.
MAX_ACCOUNTS = 5


class Forgetting(Protocol):
    """What reset and invitation links need of a throttle: `ForgotThrottle` in this process,
    `redis_limits.RedisForgotThrottle` across processes."""

    async def take(self, key: str, limit: int, window: float) -> None: ...

    async def check(self, address: str, ip: str) -> None: ...


class ForgotThrottle:
    """Sliding-window counts per IP and per address, in memory (a restart only forgets)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    async def take(self, key: str, limit: int, window: float) -> None:
        now = self._clock()
        stamps = self._seen.setdefault(key, deque())
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) >= limit:
            raise RateLimited(
                "too many password reset requests; try later", stamps[0] + window - now
            )
        stamps.append(now)
        if len(self._seen) > 10_000:
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - ADDRESS_WINDOW}

    async def check(self, address: str, ip: str) -> None:
        await self.take(f"ip:{ip}", PER_IP, IP_WINDOW)
        await self.take(f"to:{address}", PER_ADDRESS, ADDRESS_WINDOW)


async def issue(tx: Tx, sealer: Sealer, kind: str, user_id: int, tenant_id: int) -> None:
    """Make a link for `user_id` and queue the mail that carries it, in the caller's `tx`."""
    token = secrets.token_urlsafe(32)
    now = times.now()
    await tx.execute(
        "INSERT INTO account_links (token_hash, kind, user_id, expires_at, created_at)"
        " VALUES (:hash, :kind, :user, :expires, :now)",
        {
            "hash": tokens.digest(token),
            "kind": kind,
            "user": user_id,
            "expires": times.iso(now + LIFETIMES[kind]),
            "now": times.iso(now),
        },
    )
    await queue.enqueue(
        tx,
        tenant_id=tenant_id,
        channel="email",
        kind=kind,
        payload={"sealed": sealer.seal(token)},
        user_id=user_id,
    )


async def forgot(
    db: Database,
    sealer: Sealer,
    throttle: Forgetting,
    *,
    address: object,
    ip: str,
    mail_on: bool,
) -> None:
    """Mail a reset link to each enabled account of `address`, if any (see the module doc)."""
    if not isinstance(address, str):
        raise Invalid("email", "must be a string")
    key = address.strip().lower()[: emails.MAX_EMAIL]
    await throttle.check(key, ip)

    # One write transaction whether or not the address has an account: the answer and its
    # time do not tell (a link and a queued row add microseconds, no bcrypt, no SMTP).
    async def op(tx: Tx) -> int:
        rows = await tx.fetch_all(
            "SELECT id, tenant_id FROM users WHERE email = :email AND disabled = 0"
            " ORDER BY id LIMIT :limit",
            {"email": key, "limit": MAX_ACCOUNTS},
        )
        if not mail_on:
            return 0
        for row in rows:
            await issue(tx, sealer, "reset", row["id"], row["tenant_id"])
            await audit.record(
                tx,
                tenant_id=row["tenant_id"],
                actor_id=None,
                action="auth.reset_requested",
                target=f"user:{row['id']}",
                ip=ip,
            )
        return len(rows)

    await db.write(op)


async def _use(tx: Tx, kind: str, token: object) -> int:
    """The user id of a live, unused link of `kind`, now marked used; `Invalid` otherwise."""
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN:
        raise Invalid("token", "must be the token from the link")
    row = await tx.fetch_one(
        "UPDATE account_links SET used_at = :now WHERE token_hash = :hash AND kind = :kind"
        " AND used_at IS NULL AND expires_at > :now RETURNING user_id",
        {"now": times.now_iso(), "hash": tokens.digest(token), "kind": kind},
    )
    if row is None:
        raise Invalid("token", "is unknown, already used or expired; ask for a new link")
    user_id = int(row["user_id"])
    # One new password ends every other link of the same kind.
    await tx.execute(
        "UPDATE account_links SET used_at = :now WHERE user_id = :user AND kind = :kind"
        " AND used_at IS NULL",
        {"now": times.now_iso(), "user": user_id, "kind": kind},
    )
    return user_id


async def _user(tx: Tx, user_id: int) -> User:
    row = await tx.fetch_one("SELECT tenant_id FROM users WHERE id = :id", {"id": user_id})
    assert row is not None  # links are deleted with their user
    user = await users.user_by_id(tx, row["tenant_id"], user_id)
    assert user is not None
    return user


async def reset(
    db: Database, settings: Settings, throttle: Forgetting, *, token: object, new: str, ip: str
) -> None:
    """Set a new password through a reset link; every session of the user ends."""
    await throttle.take(f"ip:{ip}", PER_IP, IP_WINDOW)
    passwords.check_rules(new, "new_password")
    new_hash = await passwords.hash_password(new, settings.security.bcrypt_rounds)

    async def op(tx: Tx) -> None:
        user = await _user(tx, await _use(tx, "reset", token))
        await tx.execute(
            "UPDATE users SET password_hash = :hash, must_change_password = 0, failed_logins = 0,"
            " updated_at = :now WHERE id = :id",
            {"hash": new_hash, "now": times.now_iso(), "id": user.id},
        )
        ended = await sessions.revoke_user(tx, user.id, "password reset by email")
        for session_id in ended:
            tx.close(("session", session_id), CLOSE_AUTH, "password reset")
        await audit.record(
            tx,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            action="auth.password_reset",
            target=f"user:{user.id}",
            details={"sessions_ended": len(ended)},
            ip=ip,
        )

    await db.write(op)


async def accept(
    db: Database,
    settings: Settings,
    throttle: Forgetting,
    *,
    token: object,
    password: str,
    name: str,
    ip: str,
    user_agent: str | None,
) -> Tokens:
    """Finish an invitation: the password and name chosen, and a session opened."""
    await throttle.take(f"ip:{ip}", PER_IP, IP_WINDOW)
    passwords.check_rules(password, "password")
    new_hash = await passwords.hash_password(password, settings.security.bcrypt_rounds)
    refresh_token = tokens.new_refresh_token()

    async def op(tx: Tx) -> tuple[User, int]:
        user = await _user(tx, await _use(tx, "invite", token))
        if user.disabled:
            raise Invalid("token", "belongs to an account that was disabled")
        await tx.execute(
            "UPDATE users SET password_hash = :hash, name = :name, must_change_password = 0,"
            " updated_at = :now WHERE id = :id",
            {"hash": new_hash, "name": name, "now": times.now_iso(), "id": user.id},
        )
        session_id = await sessions.start(
            tx,
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=tokens.digest(refresh_token),
            ttl_seconds=settings.security.refresh_token_ttl_seconds,
            ip=ip,
            user_agent=user_agent,
        )
        await audit.record(
            tx,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            action="auth.invitation_accepted",
            target=f"user:{user.id}",
            ip=ip,
        )
        return await _user(tx, user.id), session_id

    user, session_id = await db.write(op)
    return logins.signed_in(settings, user, session_id, refresh_token)
