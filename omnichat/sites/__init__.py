"""Sites: where a widget is embedded, with its allowed origins and per-site settings.

Per-site settings are a JSON object in `sites.settings`; the defaults live here, so a new setting
needs no migration and an old row reads as the defaults.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from omnichat import times
from omnichat.accounts import audit
from omnichat.errors import Conflict, Forbidden, NotFound
from omnichat.storage.db import Database, IntegrityError, Row, Tx

DEFAULT_GREETING = "Connecting you with a staff member, please wait..."
DEFAULT_PATIENCE = (
    "We are still trying to locate an available staff member, thank you for your patience."
)
DEFAULT_ESCALATION = (
    "All staff are currently assisting others. Please leave your message and contact info, "
    "and a team member will respond as soon as possible."
)
DEFAULT_FOLLOWUP_THANKS = "Thank you for your message. Our team will respond promptly."
DEFAULT_AWAY = (
    "We are closed right now. Please leave your message and contact info, and a team member "
    "will respond when we are back."
)


PRECHAT_FIELDS = ("name", "email", "phone")
PRECHAT_OFF: dict[str, Any] = {"enabled": False, "fields": [], "required": []}


def new_site_key() -> str:
    """A fresh public site key: unguessable, so sites cannot be enumerated."""
    return "site_" + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class SiteSettings:
    """What staff tune per site; 0 seconds or minutes turns the step off."""

    greeting: str = DEFAULT_GREETING
    patience_seconds: int = 30
    patience_text: str = DEFAULT_PATIENCE
    escalate_seconds: int = 120
    escalate_text: str = DEFAULT_ESCALATION
    followup_text: str = DEFAULT_FOLLOWUP_THANKS
    # {"timezone": "Europe/Paris", "days": {"mon": [["09:00", "17:00"]], ...}} or None: always open.
    business_hours: dict[str, Any] | None = None
    away_text: str = DEFAULT_AWAY
    auto_close_minutes: int = 0
    alert_numbers: list[str] = field(default_factory=list)
    alert_webhook_url: str = ""
    # Addresses mailed with each alert (escalation, follow-up, summary), like `alert_numbers`.
    alert_emails: list[str] = field(default_factory=list)
    # The on-call rota (`omnichat.chat.on_call`): named weekly windows, each with its numbers
    # and emails taken in turn; when none covers the moment, `alert_numbers`/`alert_emails` are.
    on_call: list[dict[str, Any]] = field(default_factory=list)
    # The pre-chat form: {"enabled": bool, "fields": [...], "required": [...]} of name/email/phone.
    prechat: dict[str, Any] = field(default_factory=lambda: dict(PRECHAT_OFF))
    # Whether the widget offers a 1-5 rating when a conversation closes.
    ratings: bool = True
    # Give each new or reopened conversation to an online staff member at once (round-robin),
    # each holding at most `max_open_per_agent` not-closed conversations of the site (0: no cap).
    auto_assign: bool = False
    max_open_per_agent: int = 0
    # Staff notifications (push, email) of this site's conversations leave out the visitor's
    # name and words: patient data must not show on a lock screen. Off: a short preview.
    hide_content: bool = True
    # ISO 3166 alpha-2: where phone numbers typed without +code are read; None: the server's
    # `[sites] default_country`.
    default_country: str | None = None

    @classmethod
    def from_json(cls, text: str) -> SiteSettings:
        """Stored settings over the defaults; keys this version does not know are ignored."""
        stored = orjson.loads(text or "{}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in stored.items() if key in known})


@dataclass(frozen=True)
class Site:
    id: int
    tenant_id: int
    name: str
    site_key: str
    allowed_origins: list[str]
    settings: SiteSettings
    has_identity_secret: bool
    # The E.164 Twilio numbers texts to this site arrive on and replies leave from.
    sms_number: str | None = None
    whatsapp_number: str | None = None

    @classmethod
    def from_row(cls, row: Row | dict[str, Any]) -> Site:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            name=row["name"],
            site_key=row["site_key"],
            allowed_origins=orjson.loads(row["allowed_origins"]),
            settings=SiteSettings.from_json(row["settings"]),
            has_identity_secret=bool(row["identity_secret"]),
            sms_number=row["sms_number"],
            whatsapp_number=row["whatsapp_number"],
        )

    def check_origin(self, origin: str | None, production: bool) -> None:
        """`Forbidden` unless a browser on `origin` may use this site's widget.

        No Origin header means no browser is involved (the token is the credential).
        """
        if origin is None or origin_allowed(self.allowed_origins, origin, production):
            return
        if not self.allowed_origins:
            raise Forbidden(
                "This site is not configured for browsers yet: an admin must add the website's"
                " origin to the site's allowed origins on the admin page.",
                code="origin_not_allowed",
            )
        raise Forbidden(
            "This origin is not allowed for this site; add it to the site's allowed origins.",
            code="origin_not_allowed",
        )

    def phone_country(self, server_default: str) -> str | None:
        """The country national phone numbers of this site are read in, if any."""
        return self.settings.default_country or server_default or None

    def widget_json(self) -> dict[str, Any]:
        """What a visitor's widget may know about the site: nothing an admin set in private."""
        return {
            "name": self.name,
            "greeting": self.settings.greeting,
            "prechat": self.settings.prechat,
            "ratings": self.settings.ratings,
        }

    def prechat_required(self) -> list[str]:
        """The fields a visitor must give before a first message (none when the form is off)."""
        prechat = self.settings.prechat
        return list(prechat.get("required", [])) if prechat.get("enabled") else []


SITE_COLUMNS = (
    "id, tenant_id, name, site_key, allowed_origins, settings, identity_secret, sms_number,"
    " whatsapp_number"
)


async def site_by_key(db: Database, site_key: str) -> Site | None:
    row = await db.fetch_one(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE site_key = :key",
        {"key": site_key},
    )
    return None if row is None else Site.from_row(row)


async def site_by_id(db: Database, site_id: int) -> Site | None:
    row = await db.fetch_one(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE id = :id",
        {"id": site_id},
    )
    return None if row is None else Site.from_row(row)


async def default_site(db: Database) -> Site | None:
    """The default tenant's first site: the one the /demo page embeds."""
    row = await db.fetch_one(
        f"SELECT {SITE_COLUMNS} FROM sites"
        " WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'default') ORDER BY id LIMIT 1"
    )
    return None if row is None else Site.from_row(row)


async def site_by_number(db: Database, channel: str, number: str) -> Site | None:
    """The site whose SMS or WhatsApp number (E.164) is `number`: where a text to it belongs."""
    column = "whatsapp_number" if channel == "whatsapp" else "sms_number"
    row = await db.fetch_one(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE {column} = :number", {"number": number}
    )
    return None if row is None else Site.from_row(row)


async def sending_number(tx: Tx, site_id: int, channel: str) -> str | None:
    """The number a site's texts on `channel` leave from, as this transaction sees it."""
    column = "whatsapp_number" if channel == "whatsapp" else "sms_number"
    row = await tx.fetch_one(f"SELECT {column} FROM sites WHERE id = :id", {"id": site_id})
    return None if row is None or row[0] is None else str(row[0])


async def identity_secret(db: Database, site_id: int) -> str | None:
    """The site's identity-verification secret; kept out of `Site` so it is never serialised."""
    value = await db.fetch_value(
        "SELECT identity_secret FROM sites WHERE id = :id", {"id": site_id}
    )
    return str(value) if value else None


def origin_allowed(allowed: list[str], origin: str, production: bool) -> bool:
    """The origin rule: listed origins are allowed; an empty list, or `*`, allows any origin in
    development only (production refuses until the site is configured, and refuses to start
    with a `*`)."""
    if not allowed or "*" in allowed:
        return not production
    return origin.rstrip("/").lower() in allowed


async def origin_allowed_anywhere(db: Database, origin: str, production: bool) -> bool:
    """Whether any site allows `origin` (a CORS preflight does not say which site it is for)."""
    rows = await db.fetch_all("SELECT allowed_origins FROM sites")
    return any(
        origin_allowed(orjson.loads(row["allowed_origins"]), origin, production) for row in rows
    )


# What staff set through the API, as validated by `site_fields.parse`: the columns below, and
# the SiteSettings fields, which go into the settings JSON.
SETTINGS_FIELDS = frozenset(f.name for f in dataclasses.fields(SiteSettings))
NUMBER_FIELDS = ("sms_number", "whatsapp_number")


async def _unique_numbers(tx: Tx, sql: str, params: dict[str, Any]) -> int:
    """Run an INSERT/UPDATE of a site; a Twilio number another site has is a 409 naming it."""
    try:
        return await tx.execute(sql, params)
    except IntegrityError as exc:
        field = next((name for name in NUMBER_FIELDS if name in str(exc)), None)
        if field is None:
            raise
        raise Conflict(
            f"{field}: this number already belongs to another site", code="number_taken"
        ) from None


async def list_sites(db: Database, tenant_id: int) -> list[Site]:
    rows = await db.fetch_all(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = :tenant_id ORDER BY id",
        {"tenant_id": tenant_id},
    )
    return [Site.from_row(row) for row in rows]


async def _site_in(tx: Tx, tenant_id: int, site_id: int) -> Row | None:
    return await tx.fetch_one(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE id = :id AND tenant_id = :tenant_id",
        {"id": site_id, "tenant_id": tenant_id},
    )


async def create_site(
    db: Database,
    tenant_id: int,
    fields: dict[str, Any],
    *,
    actor_id: int,
    ip: str | None,
    token_id: int | None = None,
) -> Site:
    """Create a site with a new key from validated `fields` (name required); audited."""

    async def op(tx: Tx) -> Site:
        now = times.now_iso()
        site_id = await _unique_numbers(
            tx,
            "INSERT INTO sites (tenant_id, name, site_key, allowed_origins, settings,"
            " identity_secret, sms_number, whatsapp_number, created_at, updated_at) VALUES"
            " (:tenant_id, :name, :key, :origins, :settings, :secret, :sms_number,"
            " :whatsapp_number, :now, :now)",
            {
                "tenant_id": tenant_id,
                "name": fields["name"],
                "key": new_site_key(),
                "origins": orjson.dumps(fields.get("allowed_origins", [])).decode(),
                "settings": orjson.dumps(
                    {k: v for k, v in fields.items() if k in SETTINGS_FIELDS}
                ).decode(),
                "secret": fields.get("identity_secret"),
                "sms_number": fields.get("sms_number"),
                "whatsapp_number": fields.get("whatsapp_number"),
                "now": now,
            },
        )
        await audit.record(
            tx,
            tenant_id=tenant_id,
            actor_id=actor_id,
            action="site.created",
            target=f"site:{site_id}",
            details={"name": fields["name"], "fields": sorted(fields)},
            ip=ip,
            token_id=token_id,
        )
        row = await _site_in(tx, tenant_id, site_id)
        assert row is not None
        return Site.from_row(row)

    return await db.write(op)


async def update_site(
    db: Database,
    tenant_id: int,
    site_id: int,
    changes: dict[str, Any],
    *,
    actor_id: int,
    ip: str | None,
    token_id: int | None = None,
) -> Site:
    """Apply validated `changes` to a site of `tenant_id` (else `NotFound`); audited."""

    async def op(tx: Tx) -> Site:
        row = await _site_in(tx, tenant_id, site_id)
        if row is None:
            raise NotFound("no such site")
        # Merge into what is stored, keeping keys a newer version may have written.
        stored = orjson.loads(row["settings"] or "{}")
        stored.update({k: v for k, v in changes.items() if k in SETTINGS_FIELDS})
        await _unique_numbers(
            tx,
            "UPDATE sites SET name = :name, allowed_origins = :origins, settings = :settings,"
            " identity_secret = :secret, sms_number = :sms_number,"
            " whatsapp_number = :whatsapp_number, updated_at = :now WHERE id = :id",
            {
                "name": changes.get("name", row["name"]),
                "origins": orjson.dumps(
                    changes.get("allowed_origins", orjson.loads(row["allowed_origins"]))
                ).decode(),
                "settings": orjson.dumps(stored).decode(),
                "secret": changes.get("identity_secret", row["identity_secret"]),
                "sms_number": changes.get("sms_number", row["sms_number"]),
                "whatsapp_number": changes.get("whatsapp_number", row["whatsapp_number"]),
                "now": times.now_iso(),
                "id": site_id,
            },
        )
        if changes:
            # Field names only: texts can be long and the identity secret must never be shown.
            await audit.record(
                tx,
                tenant_id=tenant_id,
                actor_id=actor_id,
                action="site.updated",
                target=f"site:{site_id}",
                details={"fields": sorted(changes)},
                ip=ip,
                token_id=token_id,
            )
        updated = await _site_in(tx, tenant_id, site_id)
        assert updated is not None
        return Site.from_row(updated)

    return await db.write(op)
