"""Staff accounts: records, validation, and the rules for who may change whom.

An admin manages accounts up to their own role and never above it; owners manage everyone. The
tenant always keeps one enabled owner. New accounts and password resets get a generated
password, shown once to the admin, that must be changed at first sign-in. Disabling an account or
resetting its password ends its sessions and closes its sockets at once; a role change closes its
sockets and makes its access tokens fail until refreshed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson

from omnichat import times
from omnichat.accounts import audit, passwords, sessions
from omnichat.accounts.presence import AVAILABILITIES, Availability
from omnichat.accounts.staff import ROLES, Staff, rank
from omnichat.emails import parse_email
from omnichat.errors import Conflict, Forbidden, Invalid, NotFound
from omnichat.notify import prefs
from omnichat.protocol.hub import CLOSE_AUTH
from omnichat.storage.db import DIALECTS, Database, IntegrityError, Row, Tx, json_values

MAX_NAME = 100
# Sign-in without a tenant checks the password against each account of the email, at the cost of
# one bcrypt each: this many at most (the oldest); beyond, the tenant must be given.
MAX_SIGN_IN_ACCOUNTS = 5


@dataclass(frozen=True)
class User:
    id: int
    tenant_id: int
    email: str
    name: str
    role: str
    disabled: bool
    must_change_password: bool
    failed_logins: int
    created_at: str
    updated_at: str
    # The switch the user sets (see `presence` for what makes them online).
    availability: Availability
    # Which events reach them by push and by email (`notify.prefs`).
    notify: prefs.Prefs

    @classmethod
    def from_row(cls, row: Row) -> User:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            email=row["email"],
            name=row["name"],
            role=row["role"],
            disabled=bool(row["disabled"]),
            must_change_password=bool(row["must_change_password"]),
            failed_logins=row["failed_logins"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            availability=row["availability"],
            notify=prefs.load(row["notify"]),
        )

    def json(self, *, connected: bool) -> dict[str, Any]:
        """The contract's User; `connected`: whether an agent socket of theirs is open (see
        `presence`), which with the availability switch on makes them online."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "must_change_password": self.must_change_password,
            "failed_logins": self.failed_logins,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "availability": self.availability,
            "online": connected and self.availability == "online",
            "notify": self.notify,
        }


USER_COLUMNS = (
    "id, tenant_id, email, name, role, disabled, must_change_password, failed_logins,"
    " created_at, updated_at, availability, notify"
)


async def user_by_id(db: Database | Tx, tenant_id: int, user_id: int) -> User | None:
    """The user `user_id` if it belongs to `tenant_id` (another tenant's user reads as absent)."""
    row = await db.fetch_one(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = :id AND tenant_id = :tenant_id",
        {"id": user_id, "tenant_id": tenant_id},
    )
    return None if row is None else User.from_row(row)


async def list_users(db: Database, tenant_id: int) -> list[User]:
    rows = await db.fetch_all(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = :tenant_id"
        " ORDER BY name COLLATE NOCASE, id",
        {"tenant_id": tenant_id},
    )
    return [User.from_row(row) for row in rows]


async def credentials(
    db: Database | Tx, email: str, tenant: str | None = None
) -> list[tuple[User, str]]:
    """The accounts with this email (any case) and their password hashes, for signing in.

    Emails are unique per tenant, so there is one per tenant at most: only tenant `tenant` (a
    slug) when given, else the oldest `MAX_SIGN_IN_ACCOUNTS` of them.
    """
    rows = await db.fetch_all(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = :email"
        " AND (:tenant IS NULL OR tenant_id = (SELECT id FROM tenants WHERE slug = :tenant))"
        " ORDER BY id LIMIT :limit",
        {"email": email.strip(), "tenant": tenant, "limit": MAX_SIGN_IN_ACCOUNTS},
    )
    return [(User.from_row(row), row["password_hash"]) for row in rows]


async def password_hash(db: Database | Tx, user_id: int) -> str | None:
    """The password hash of user `user_id`."""
    row = await db.fetch_one("SELECT password_hash FROM users WHERE id = :id", {"id": user_id})
    return None if row is None else str(row["password_hash"])


def parse_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_NAME:
        raise Invalid("name", f"must be 1 to {MAX_NAME} characters")
    return value.strip()


def parse_role(value: Any) -> str:
    if value not in ROLES:
        raise Invalid("role", f"must be one of {', '.join(ROLES)}")
    return str(value)


def parse_availability(value: Any) -> Availability:
    for known in AVAILABILITIES:
        if value == known:
            return known
    raise Invalid("availability", f"must be one of {', '.join(AVAILABILITIES)}")


async def set_availability(
    db: Database, staff: Staff, availability: Availability
) -> tuple[User, bool]:
    """Store the caller's availability switch; returns their record and whether it changed."""

    async def op(tx: Tx) -> tuple[User, bool]:
        changed = await tx.execute(
            "UPDATE users SET availability = :availability, updated_at = :now"
            " WHERE id = :id AND availability != :availability",
            {"availability": availability, "now": times.now_iso(), "id": staff.id},
        )
        user = await user_by_id(tx, staff.tenant_id, staff.id)
        assert user is not None  # the caller was just authenticated
        return user, changed > 0

    return await db.write(op)


async def set_notify(db: Database, staff: Staff, chosen: prefs.Prefs) -> User:
    """Store the caller's notification choices."""

    async def op(tx: Tx) -> User:
        await tx.execute(
            "UPDATE users SET notify = :notify, updated_at = :now WHERE id = :id",
            {"notify": prefs.dump(chosen), "now": times.now_iso(), "id": staff.id},
        )
        user = await user_by_id(tx, staff.tenant_id, staff.id)
        assert user is not None  # the caller was just authenticated
        return user

    return await db.write(op)


# Staff who take chats: enabled users of the tenant whose switch says online, among those with
# an agent socket open (`:connected`, a JSON array of ids captured from `presence`).
ONLINE = {
    dialect: "SELECT id FROM users"
    " WHERE tenant_id = :tenant AND disabled = 0 AND availability = 'online'"
    f" AND id IN ({json_values(dialect, 'connected')})"
    for dialect in DIALECTS
}


async def any_online(db: Database, tenant_id: int, connected: Collection[int]) -> bool:
    """Whether some staff member of the tenant is online (for the widget's status)."""
    if not connected:
        return False
    row = await db.fetch_one(
        ONLINE[db.dialect] + " LIMIT 1",
        {"tenant": tenant_id, "connected": orjson.dumps(sorted(connected)).decode()},
    )
    return row is not None


@dataclass(frozen=True)
class Changes:
    """A PATCH of a user: None leaves a field as it is."""

    name: str | None = None
    email: str | None = None
    role: str | None = None
    disabled: bool | None = None
    reset_password: bool = False


def parse_changes(data: dict[str, Any]) -> Changes:
    unknown = set(data) - {"name", "email", "role", "disabled", "reset_password"}
    if unknown:
        raise Invalid(sorted(unknown)[0], "is not a field you can change")
    for flag in ("disabled", "reset_password"):
        if flag in data and not isinstance(data[flag], bool):
            raise Invalid(flag, "must be true or false")
    return Changes(
        name=parse_name(data["name"]) if "name" in data else None,
        email=parse_email(data["email"]) if "email" in data else None,
        role=parse_role(data["role"]) if "role" in data else None,
        disabled=data.get("disabled"),
        reset_password=bool(data.get("reset_password", False)),
    )


async def create_user(
    db: Database,
    actor: Staff,
    *,
    email: str,
    name: str,
    role: str,
    rounds: int,
    ip: str | None,
    invite: Callable[[Tx, User], Awaitable[None]] | None = None,
) -> tuple[User, str]:
    """Create an account in the actor's tenant; returns it with its one-time password.

    With `invite` (email on), that function runs in the same transaction to mail the new user
    a link instead, and the generated password, never shown, is only a placeholder: nobody can
    sign in until the link is used.
    """
    if rank(role) > rank(actor.role):
        raise Forbidden(f"you cannot create an account with a role above yours ({actor.role})")
    password = passwords.generate_password()
    password_hash = await passwords.hash_password(password, rounds)

    async def op(tx: Tx) -> User:
        now = times.now_iso()
        try:
            user_id = await tx.execute(
                "INSERT INTO users (tenant_id, email, name, role, password_hash,"
                " must_change_password, created_at, updated_at) VALUES (:tenant_id, :email,"
                " :name, :role, :hash, 1, :now, :now)",
                {
                    "tenant_id": actor.tenant_id,
                    "email": email,
                    "name": name,
                    "role": role,
                    "hash": password_hash,
                    "now": now,
                },
            )
            if invite is not None:
                await tx.execute(
                    "UPDATE users SET must_change_password = 0 WHERE id = :id", {"id": user_id}
                )
        except IntegrityError:
            # Emails are unique per tenant: this says nothing about other tenants' accounts.
            raise Conflict(
                "an account of this tenant already has this email", code="email_taken"
            ) from None
        await audit.record(
            tx,
            tenant_id=actor.tenant_id,
            actor_id=actor.id,
            action="user.created",
            target=f"user:{user_id}",
            details={"email": email, "role": role},
            ip=ip,
            token_id=actor.token_id,
        )
        user = await user_by_id(tx, actor.tenant_id, user_id)
        assert user is not None
        if invite is not None:
            await invite(tx, user)
        return user

    return await db.write(op), password


async def update_user(
    db: Database,
    actor: Staff,
    user_id: int,
    changes: Changes,
    *,
    rounds: int,
    ip: str | None,
) -> tuple[User, str | None]:
    """Apply `changes` to a user of the actor's tenant; returns it and any new one-time password."""
    password = passwords.generate_password() if changes.reset_password else None
    password_hash = None if password is None else await passwords.hash_password(password, rounds)

    async def op(tx: Tx) -> User:
        user = await user_by_id(tx, actor.tenant_id, user_id)
        if user is None:
            raise NotFound("no such user")
        await _check_allowed(tx, actor, user, changes)
        fields = _changed_fields(user, changes)
        if not fields and password_hash is None:
            return user
        params: dict[str, Any] = {**fields, "id": user.id, "now": times.now_iso()}
        assignments = [f"{name} = :{name}" for name in fields]
        if password_hash is not None:
            assignments += ["password_hash = :hash", "must_change_password = 1"]
            params["hash"] = password_hash
        try:
            await tx.execute(
                f"UPDATE users SET {', '.join(assignments)}, updated_at = :now WHERE id = :id",
                params,
            )
        except IntegrityError:
            # Emails are unique per tenant: this says nothing about other tenants' accounts.
            raise Conflict(
                "an account of this tenant already has this email", code="email_taken"
            ) from None
        if fields.get("disabled") or password_hash is not None:
            # Whoever holds these sessions may no longer sign in as this user: end them now.
            await sessions.revoke_user(tx, user.id, "account disabled or password reset")
        if fields.get("disabled") or password_hash is not None or "role" in fields:
            # A role change keeps the sessions (a refresh carries the new role), but sockets
            # were authorised for the old role and must reconnect.
            tx.close(("user", user.id), CLOSE_AUTH, "account changed")
        details: dict[str, Any] = {
            name: value if name != "disabled" else bool(value) for name, value in fields.items()
        }
        if password_hash is not None:
            details["password_reset"] = True
        await audit.record(
            tx,
            tenant_id=actor.tenant_id,
            actor_id=actor.id,
            action="user.updated",
            target=f"user:{user.id}",
            details=details,
            ip=ip,
            token_id=actor.token_id,
        )
        updated = await user_by_id(tx, actor.tenant_id, user.id)
        assert updated is not None
        return updated

    return await db.write(op), password


def _changed_fields(user: User, changes: Changes) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if changes.name is not None and changes.name != user.name:
        fields["name"] = changes.name
    if changes.email is not None and changes.email != user.email:
        fields["email"] = changes.email
    if changes.role is not None and changes.role != user.role:
        fields["role"] = changes.role
    if changes.disabled is not None and changes.disabled != user.disabled:
        fields["disabled"] = int(changes.disabled)
    return fields


async def _check_allowed(tx: Tx, actor: Staff, user: User, changes: Changes) -> None:
    if rank(user.role) > rank(actor.role):
        raise Forbidden(f"you cannot change an account whose role is above yours ({actor.role})")
    if changes.role is not None and rank(changes.role) > rank(actor.role):
        raise Forbidden(f"you cannot give a role above yours ({actor.role})")
    if changes.disabled and user.id == actor.id:
        raise Conflict("you cannot disable your own account", code="self_disable")
    losing_owner = user.role == "owner" and not user.disabled
    demoted = changes.role is not None and changes.role != "owner"
    if losing_owner and (demoted or changes.disabled):
        # The tenant's owners locked, in id order: two admins demoting the last two owners at
        # once (two processes) are judged one after the other.
        owners = await tx.fetch_all(
            "SELECT id FROM users WHERE tenant_id = :tenant_id AND role = 'owner'"
            " AND disabled = 0 ORDER BY id" + tx.for_update,
            {"tenant_id": user.tenant_id},
        )
        if not [row for row in owners if row["id"] != user.id]:
            raise Conflict("the last owner cannot be demoted or disabled", code="last_owner")
