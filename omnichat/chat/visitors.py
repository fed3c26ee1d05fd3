"""Widget visitors: unguessable tokens (stored only as hashes), sessions and identity.

The token is the visitor's only credential. An unknown token, or one from another site, silently
yields a new visitor: it never reveals whose it was.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from omnichat import emails, times
from omnichat.accounts import tokens
from omnichat.chat import conversations
from omnichat.errors import Invalid
from omnichat.protocol.hub import Hub
from omnichat.sites import Site
from omnichat.storage.db import Database, Row, Tx

TOKEN_BYTES = 32  # 256 random bits
MAX_FIELD = 200


@dataclass(frozen=True)
class Visitor:
    id: int
    tenant_id: int
    site_id: int
    name: str | None
    email: str | None
    verified: bool

    @classmethod
    def from_row(cls, row: Row) -> Visitor:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            site_id=row["site_id"],
            name=row["name"],
            email=row["email"],
            verified=bool(row["verified"]),
        )


async def by_token(db: Database, token: str | None) -> Visitor | None:
    """The visitor holding `token`, or None for a missing, malformed or unknown token."""
    if not token or len(token) > 100:
        return None
    row = await db.fetch_one(
        "SELECT id, tenant_id, site_id, name, email, verified FROM visitors"
        " WHERE token_hash = :hash",
        {"hash": tokens.digest(token)},
    )
    return None if row is None else Visitor.from_row(row)


async def start_session(db: Database, site: Site, token: str | None) -> tuple[str, Visitor]:
    """Resume the visitor of `token` on this site, or create a new one with a fresh token."""
    visitor = await by_token(db, token)
    if visitor is not None and visitor.site_id == site.id and token is not None:
        return token, visitor
    fresh = secrets.token_urlsafe(TOKEN_BYTES)

    async def create(tx: Tx) -> Visitor:
        now = times.now_iso()
        visitor_id = await tx.execute(
            "INSERT INTO visitors (tenant_id, site_id, token_hash, created_at, last_seen_at)"
            " VALUES (:tenant, :site, :hash, :now, :now)",
            {"tenant": site.tenant_id, "site": site.id, "hash": tokens.digest(fresh), "now": now},
        )
        return Visitor(visitor_id, site.tenant_id, site.id, None, None, False)

    return fresh, await db.write(create)


def identity_hash(secret: str, identifier: str) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def _clean(field: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Invalid(field, "must be a string")
    value = value.strip()
    if len(value) > MAX_FIELD:
        raise Invalid(field, f"must be at most {MAX_FIELD} characters")
    return value or None


async def identify(
    db: Database,
    hub: Hub,
    visitor: Visitor,
    secret: str | None,
    identifier: object,
    name: object,
    email: object,
    identifier_hash: object,
) -> Visitor:
    """Record what the host page says about its visitor.

    Name and email are shown to staff as claimed. The visitor is marked verified only when
    `identifier_hash` is HMAC-SHA256(site identity secret, identifier); a wrong hash is ignored,
    never trusted. Claiming someone's identifier or email never joins their conversation: a
    conversation belongs to the visitor token that started it.
    """
    clean_identifier = _clean("identifier", identifier)
    clean_name = _clean("name", name)
    clean_email = _clean("email", email)
    if clean_email is not None:
        clean_email = emails.parse_email(clean_email)
    verified = bool(
        secret
        and clean_identifier
        and isinstance(identifier_hash, str)
        and hmac.compare_digest(identity_hash(secret, clean_identifier), identifier_hash.lower())
    )

    async def update(tx: Tx) -> None:
        await tx.execute(
            "UPDATE visitors SET name = COALESCE(:name, name), email = COALESCE(:email, email),"
            " identifier = :identifier, verified = :verified, last_seen_at = :now WHERE id = :id",
            {
                "name": clean_name,
                "email": clean_email,
                "identifier": clean_identifier if verified else None,
                "verified": int(verified),
                "now": times.now_iso(),
                "id": visitor.id,
            },
        )
        # Staff see the new name at once in their inbox.
        rows = await tx.fetch_all(
            "SELECT id FROM conversations WHERE visitor_id = :v", {"v": visitor.id}
        )
        for row in rows:
            conversation = await conversations.load(tx, row["id"])
            await conversations.announce(tx, hub, conversation, "conversation.updated")

    await db.write(update)
    return Visitor(
        visitor.id,
        visitor.tenant_id,
        visitor.site_id,
        clean_name or visitor.name,
        clean_email or visitor.email,
        verified,
    )
