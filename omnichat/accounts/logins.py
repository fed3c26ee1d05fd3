"""Signing in and out: login, refresh-token rotation, logout and password change.

Every outcome that matters for security (success, failure, a replayed refresh token, a password
change) is audited in the same transaction as its effect. Bad credentials get one answer whether
the email exists or not, after the same bcrypt work.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from omnichat import emails, times
from omnichat.accounts import audit, passwords, sessions, tokens, users
from omnichat.accounts.staff import Staff
from omnichat.accounts.throttle import Throttle
from omnichat.accounts.users import User
from omnichat.errors import Conflict, Forbidden, Invalid, NotAuthenticated
from omnichat.protocol.hub import CLOSE_AUTH
from omnichat.settings import Settings
from omnichat.storage.db import Database, Tx

log = logging.getLogger("omnichat.auth")
# Longer than any token we issue; anything longer is junk and skips the database.
MAX_REFRESH_TOKEN = 128


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User

    def json(self, *, connected: bool) -> dict[str, Any]:
        """The sign-in answer; `connected` as for `User.json`."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "user": self.user.json(connected=connected),
        }


def _access(settings: Settings, user: User, session_id: int) -> tuple[str, int]:
    ttl = settings.security.access_token_ttl_seconds
    token, _ = tokens.issue_access(
        str(settings.security.secret_key),
        user_id=user.id,
        tenant_id=user.tenant_id,
        session_id=session_id,
        role=user.role,
        ttl=ttl,
    )
    return token, ttl


def signed_in(settings: Settings, user: User, session_id: int, refresh_token: str) -> Tokens:
    """The sign-in answer for a session just opened (by a login or an accepted invitation)."""
    access_token, ttl = _access(settings, user, session_id)
    return Tokens(access_token, refresh_token, ttl, user)


async def login(
    db: Database,
    settings: Settings,
    throttle: Throttle,
    *,
    email: str,
    password: str,
    ip: str,
    user_agent: str | None,
    tenant: str | None = None,
) -> Tokens:
    """Check credentials (throttled) and open a session; `NotAuthenticated` on bad ones.

    Emails are unique per tenant. Without `tenant` (a slug) the password is checked against each
    account of the email, concurrently: the one it opens is signed in, whatever other tenants
    hold, so nobody can lock a user out by creating their email elsewhere. Only when it opens
    several (someone who knows that password in each) is the tenant asked for, with 409
    `tenant_required`: to anyone else the answer is the one an unknown email gets.
    """
    account = email.strip().lower()[: emails.MAX_EMAIL]
    await throttle.attempt(account, ip)
    found = await users.credentials(db, account, tenant)
    checks = [
        passwords.verify_password(password, password_hash, settings.security.bcrypt_rounds)
        for _, password_hash in found
    ] or [passwords.verify_password(password, None, settings.security.bcrypt_rounds)]
    opened = [pair for pair, ok in zip(found, await asyncio.gather(*checks), strict=False) if ok]
    if not opened:
        await db.write(lambda tx: _record_failures(tx, [user for user, _ in found], ip))
        log.info("login failed", extra={"fields": {"ip": ip}})
        raise NotAuthenticated("email or password is wrong", code="invalid_credentials")
    await throttle.succeeded(account, ip)
    if len(opened) > 1:
        raise Conflict(
            "this email and password open accounts in several tenants; "
            "say which with tenant (its slug)",
            code="tenant_required",
        )
    [(user, password_hash)] = opened
    if user.disabled:
        await db.write(lambda tx: _record_failure(tx, user, ip, reason="disabled"))
        raise Forbidden("this account is disabled", code="account_disabled")
    rehashed = None
    if _cost(password_hash) != settings.security.bcrypt_rounds:
        # The cost setting changed since this hash was made: upgrade it while we know the password.
        rehashed = await passwords.hash_password(password, settings.security.bcrypt_rounds)
    refresh_token = tokens.new_refresh_token()

    async def op(tx: Tx) -> int:
        await sessions.prune(tx, user.id)
        session_id = await sessions.start(
            tx,
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=tokens.digest(refresh_token),
            ttl_seconds=settings.security.refresh_token_ttl_seconds,
            ip=ip,
            user_agent=user_agent,
        )
        await tx.execute(
            "UPDATE users SET failed_logins = 0, password_hash = COALESCE(:hash, password_hash)"
            " WHERE id = :id",
            {"hash": rehashed, "id": user.id},
        )
        await audit.record(
            tx,
            tenant_id=user.tenant_id,
            actor_id=user.id,
            action="auth.login",
            target=f"user:{user.id}",
            details={"session_id": session_id},
            ip=ip,
        )
        return session_id

    session_id = await db.write(op)
    access_token, ttl = _access(settings, user, session_id)
    return Tokens(access_token, refresh_token, ttl, user)


def _cost(password_hash: str) -> int | None:
    parts = password_hash.split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None


async def _record_failures(tx: Tx, found: list[User], ip: str) -> None:
    """A wrong password counts against every account of the email that was tried."""
    if not found:
        await _record_failure(tx, None, ip)
    for user in found:
        await _record_failure(tx, user, ip)


async def _record_failure(
    tx: Tx, user: User | None, ip: str, reason: str = "wrong_password"
) -> None:
    if user is None:
        # The attempted email is not kept: people type their password into the email field.
        await audit.record(
            tx,
            tenant_id=None,
            actor_id=None,
            action="auth.login_failed",
            details={"reason": "unknown_account"},
            ip=ip,
        )
        return
    await tx.execute(
        "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = :id", {"id": user.id}
    )
    await audit.record(
        tx,
        tenant_id=user.tenant_id,
        actor_id=None,
        action="auth.login_failed",
        target=f"user:{user.id}",
        details={"reason": reason},
        ip=ip,
    )


async def refresh(db: Database, settings: Settings, *, refresh_token: str, ip: str) -> Tokens:
    """Swap a refresh token for a new pair; a used-up token revokes its whole family."""
    if not refresh_token or len(refresh_token) > MAX_REFRESH_TOKEN:
        raise NotAuthenticated("refresh token is not valid")
    old_hash = tokens.digest(refresh_token)
    new_token = tokens.new_refresh_token()

    async def op(tx: Tx) -> tuple[User, int] | None:
        session = await sessions.by_token(tx, old_hash)
        if session is None:
            await _revoke_reused(tx, old_hash, ip)
            return None
        if not session.live:
            return None
        user = await users.user_by_id(tx, session.tenant_id, session.user_id)
        if user is None or user.disabled:
            await sessions.revoke(tx, session.id, "account disabled")
            return None
        await sessions.rotate(
            tx,
            session.id,
            old_hash,
            tokens.digest(new_token),
            settings.security.refresh_token_ttl_seconds,
            ip,
        )
        return user, session.id

    outcome = await db.write(op)
    if outcome is None:
        raise NotAuthenticated("refresh token is not valid; sign in again")
    user, session_id = outcome
    access_token, ttl = _access(settings, user, session_id)
    return Tokens(access_token, new_token, ttl, user)


async def _revoke_reused(tx: Tx, token_hash: str, ip: str) -> None:
    session = await sessions.by_used_token(tx, token_hash)
    if session is None or not await sessions.revoke(tx, session.id, "refresh token reused"):
        return
    await audit.record(
        tx,
        tenant_id=session.tenant_id,
        actor_id=None,
        action="auth.refresh_reused",
        target=f"user:{session.user_id}",
        details={"session_id": session.id},
        ip=ip,
    )
    tx.close(("session", session.id), CLOSE_AUTH, "session revoked")
    tx.after_commit(
        lambda: log.warning(
            "refresh token reused; session revoked",
            extra={"fields": {"session_id": session.id, "ip": ip}},
        )
    )


async def logout(db: Database, staff: Staff, *, everywhere: bool, ip: str | None) -> list[int]:
    """End the caller's session (or all their sessions) and close its sockets."""

    async def op(tx: Tx) -> list[int]:
        if everywhere:
            ended = await sessions.revoke_user(tx, staff.id, "signed out everywhere")
        else:
            ended = (
                [staff.session_id] if await sessions.revoke(tx, staff.session_id, "logout") else []
            )
        await audit.record(
            tx,
            tenant_id=staff.tenant_id,
            actor_id=staff.id,
            action="auth.logout",
            target=f"user:{staff.id}",
            details={"sessions": len(ended), "everywhere": everywhere},
            ip=ip,
        )
        for session_id in ended:
            tx.close(("session", session_id), CLOSE_AUTH, "signed out")
        return ended

    return await db.write(op)


async def change_password(
    db: Database,
    settings: Settings,
    throttle: Throttle,
    staff: Staff,
    *,
    current: str,
    new: str,
    ip: str,
) -> User:
    """Replace the caller's password; their other sessions end, this one stays signed in."""
    # Guessing the current password with a stolen access token is throttled like logins.
    await throttle.attempt(staff.email, ip)
    current_hash = await users.password_hash(db, staff.id)
    if not await passwords.verify_password(current, current_hash, settings.security.bcrypt_rounds):
        raise Invalid("current_password", "is wrong")
    await throttle.succeeded(staff.email, ip)
    passwords.check_rules(new, "new_password")
    if new == current:
        raise Invalid("new_password", "must differ from the current password")
    if new.strip().lower() == staff.email.lower():
        raise Invalid("new_password", "must not be your email address")
    new_hash = await passwords.hash_password(new, settings.security.bcrypt_rounds)

    async def op(tx: Tx) -> User:
        await tx.execute(
            "UPDATE users SET password_hash = :hash, must_change_password = 0, updated_at = :now"
            " WHERE id = :id",
            {"hash": new_hash, "now": times.now_iso(), "id": staff.id},
        )
        ended = await sessions.revoke_user(tx, staff.id, "password changed", keep=staff.session_id)
        for session_id in ended:
            tx.close(("session", session_id), CLOSE_AUTH, "password changed")
        await audit.record(
            tx,
            tenant_id=staff.tenant_id,
            actor_id=staff.id,
            action="auth.password_changed",
            target=f"user:{staff.id}",
            details={"other_sessions_ended": len(ended)},
            ip=ip,
        )
        user = await users.user_by_id(tx, staff.tenant_id, staff.id)
        assert user is not None
        return user

    return await db.write(op)
