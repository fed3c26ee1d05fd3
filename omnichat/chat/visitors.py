"""Widget visitors: unguessable tokens (stored only as hashes), sessions and identity.

The token is the visitor's only credential. An unknown token, or one from another site, silently
yields a new visitor: it never reveals whose it was.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from omnichat import emails, phones, times
from omnichat.accounts import tokens
from omnichat.chat import conversations
from omnichat.errors import Invalid, NotAuthenticated
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
    phone: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Visitor:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            site_id=row["site_id"],
            name=row["name"],
            email=row["email"],
            verified=bool(row["verified"]),
            phone=row["phone"],
        )


# The visitor and its site in one read: every widget request and socket starts with it.
VISITOR_AND_SITE = """
SELECT v.id, v.tenant_id, v.site_id, v.name, v.email, v.phone, v.verified, s.name AS site_name,
       s.site_key, s.allowed_origins, s.settings, s.identity_secret, s.sms_number,
       s.whatsapp_number
FROM visitors v JOIN sites s ON s.id = v.site_id
WHERE v.token_hash = :hash
"""


async def by_token(db: Database, token: str | None) -> tuple[Visitor, Site] | None:
    """The visitor holding `token` with its site, or None for a missing, malformed or unknown
    token."""
    if not token or len(token) > 100:
        return None
    row = await db.fetch_one(VISITOR_AND_SITE, {"hash": tokens.digest(token)})
    if row is None:
        return None
    site = Site.from_row(
        {
            "id": row["site_id"],
            "name": row["site_name"],
            **{key: row[key] for key in SITE_KEYS},
        }
    )
    return Visitor.from_row(row), site


SITE_KEYS = (
    "tenant_id",
    "site_key",
    "allowed_origins",
    "settings",
    "identity_secret",
    "sms_number",
    "whatsapp_number",
)


async def authenticate(
    db: Database, token: str | None, origin: str | None, production: bool
) -> tuple[Visitor, Site]:
    """The visitor of `token` and its site, when that site allows `origin`: the one check the
    widget's socket and its HTTP calls share. `NotAuthenticated` or `Forbidden` otherwise."""
    found = await by_token(db, token)
    if found is None:
        raise NotAuthenticated("missing or unknown visitor token; start a new session")
    found[1].check_origin(origin, production)
    return found


async def start_session(db: Database, site: Site, token: str | None) -> tuple[str, Visitor]:
    """Resume the visitor of `token` on this site, or create a new one with a fresh token."""
    found = await by_token(db, token)
    if found is not None and found[0].site_id == site.id and token is not None:
        return token, found[0]
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
    visitor: Visitor,
    secret: str | None,
    identifier: object,
    name: object,
    email: object,
    identifier_hash: object,
    phone: object = None,
) -> Visitor:
    """Record what the host page says about its visitor.

    Name, email and phone (the pre-chat form's fields) are shown to staff as claimed. The
    visitor is marked verified only when
    `identifier_hash` is HMAC-SHA256(site identity secret, identifier); a wrong hash is ignored,
    never trusted. Claiming someone's identifier or email never joins their conversation: a
    conversation belongs to the visitor token that started it.
    """
    clean_identifier = _clean("identifier", identifier)
    clean_name = _clean("name", name)
    clean_email = _clean("email", email)
    if clean_email is not None:
        clean_email = emails.parse_email(clean_email)
    clean_phone = _clean("phone", phone)
    if clean_phone is not None:
        clean_phone = phones.require("phone", clean_phone)
    verified = bool(
        secret
        and clean_identifier
        and isinstance(identifier_hash, str)
        and hmac.compare_digest(identity_hash(secret, clean_identifier), identifier_hash.lower())
    )

    async def update(tx: Tx) -> None:
        await tx.execute(
            "UPDATE visitors SET name = COALESCE(:name, name), email = COALESCE(:email, email),"
            " phone = COALESCE(:phone, phone), identifier = :identifier, verified = :verified,"
            " last_seen_at = :now WHERE id = :id",
            {
                "name": clean_name,
                "email": clean_email,
                "phone": clean_phone,
                "identifier": clean_identifier if verified else None,
                "verified": int(verified),
                "now": times.now_iso(),
                "id": visitor.id,
            },
        )
        # Staff see the new name at once in their inbox.
        for conversation_id in await conversations.ids_of_visitor(tx, visitor.id):
            conversation = await conversations.load(tx, conversation_id)
            await conversations.announce(tx, conversation, "conversation.updated")

    await db.write(update)
    return Visitor(
        visitor.id,
        visitor.tenant_id,
        visitor.site_id,
        clean_name or visitor.name,
        clean_email or visitor.email,
        verified,
        clean_phone or visitor.phone,
    )


class PrechatRequired(Invalid):
    """A first message before the pre-chat form's required fields are given."""

    code = "prechat_required"


async def check_prechat(db: Database, site: Site, visitor_id: int) -> None:
    """`PrechatRequired` (422, naming the first missing field) when the site's pre-chat form
    requires fields this visitor has not given and the visitor has no conversation yet; a
    visitor who already chats (the form was turned on since) is never stopped."""
    required = site.prechat_required()
    if not required:
        return
    row = await db.fetch_one(
        "SELECT name, email, phone, EXISTS (SELECT 1 FROM conversations"
        " WHERE visitor_id = :id AND channel = 'web') AS chatted FROM visitors WHERE id = :id",
        {"id": visitor_id},
    )
    if row is None or row["chatted"]:
        return
    missing = [name for name in required if not row[name]]
    if missing:
        raise PrechatRequired(missing[0], "the pre-chat form asks for this before a first message")
