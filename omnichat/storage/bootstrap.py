"""Accounts made outside the server: the first start's owner, and `create-user`.

These run before serving (or from the command line) on a synchronous connection, SQLite's or
PostgreSQL's (`engine.SyncPostgres`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from omnichat import emails, times
from omnichat.accounts import passwords
from omnichat.errors import Invalid, StartupError
from omnichat.settings import Settings
from omnichat.sites import new_site_key
from omnichat.storage.engine import Connection

# A reserved example domain: a syntactically valid address that reaches nobody. (email-validator
# refuses "localhost", a special-use name, as it refuses for any account.)
DEFAULT_OWNER_EMAIL = "owner@example.com"


@contextlib.contextmanager
def _transaction(connection: Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def ensure_tenant(connection: Connection, slug: str) -> int:
    """The id of tenant `slug`, created with a first site when missing."""
    row = connection.execute("SELECT id FROM tenants WHERE slug = ?", (slug,)).fetchone()
    if row is not None:
        return int(row[0])
    now = times.now_iso()
    tenant_id = connection.execute(
        "INSERT INTO tenants (slug, name, created_at) VALUES (?, ?, ?)",
        (slug, "Default" if slug == "default" else slug, now),
    ).lastrowid
    connection.execute(
        "INSERT INTO sites (tenant_id, name, site_key, created_at, updated_at)"
        " VALUES (?, 'Default site', ?, ?, ?)",
        (tenant_id, new_site_key(), now, now),
    )
    return int(tenant_id or 0)


def insert_user(
    connection: Connection,
    tenant_id: int,
    email: str,
    name: str,
    role: str,
    password_hash: str,
    must_change_password: bool,
) -> None:
    now = times.now_iso()
    connection.execute(
        "INSERT INTO users (tenant_id, email, name, role, password_hash,"
        " must_change_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant_id, email, name, role, password_hash, int(must_change_password), now, now),
    )


def create_user(
    connection: Connection,
    tenant_slug: str,
    email: str,
    name: str,
    role: str,
    password_hash: str,
    must_change_password: bool,
) -> None:
    """Create a user (and its tenant when missing) in one transaction; IntegrityError if taken."""
    with _transaction(connection):
        tenant_id = ensure_tenant(connection, tenant_slug)
        insert_user(connection, tenant_id, email, name, role, password_hash, must_change_password)


def bootstrap(connection: Connection, settings: Settings, announce: Callable[[str], None]) -> bool:
    """Create tenant `default`, a site and one owner when the database has no tenant yet.

    A generated password goes to `announce` (the terminal), never to the log, and must be
    changed at first login. Returns whether anything was created.
    """
    if connection.execute("SELECT 1 FROM tenants LIMIT 1").fetchone():
        return False
    given = str(settings.bootstrap.password)
    try:
        email = emails.parse_email(
            settings.bootstrap.email or DEFAULT_OWNER_EMAIL, "setting bootstrap.email"
        )
        if given:
            passwords.check_rules(given, "setting bootstrap.password")
    except Invalid as exc:
        raise StartupError(exc.message) from None
    password = given or passwords.generate_password()
    password_hash = passwords.hash_password_sync(password, settings.security.bcrypt_rounds)
    with _transaction(connection):
        # Another process may have bootstrapped since the check above.
        if connection.execute("SELECT 1 FROM tenants LIMIT 1").fetchone():
            return False
        tenant_id = ensure_tenant(connection, "default")
        insert_user(connection, tenant_id, email, "Owner", "owner", password_hash, not given)
    if not given:
        announce(
            f"Omnichat created the owner account {email} with the password {password}\n"
            "It is shown only this once and must be changed at first login."
        )
    return True
