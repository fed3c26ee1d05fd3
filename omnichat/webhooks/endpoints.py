"""The webhooks table: where a tenant wants its events POSTed, checked when saved.

A URL must be https in production (http also in development) and must not name an internal
host (the egress guard, `omnichat.egress`), neither literally nor through what its name resolves
to now; the sender checks again at every connection. The secret is made here, returned once, and
kept to sign deliveries.

Each database caches its tenants' active subscriptions (`subscriptions`), read by every event
inside the writer's transaction: a tenant without webhooks costs a dictionary lookup per event.
Every write here drops the tenant's entry, inside its transaction and again after the commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from omnichat import times
from omnichat.accounts import audit
from omnichat.egress import Egress, EgressRefused
from omnichat.errors import Invalid, NotFound
from omnichat.storage.db import Database, Row, Tx

# What a webhook may subscribe to. `message.private` is a private note (staff only), sent only
# to webhooks that name it; `message.created` carries public messages alone.
EVENTS = (
    "conversation.created",
    "conversation.updated",
    "message.created",
    "message.private",
    "message.updated",
    "followup.created",
    "followup.updated",
    "rating.created",
)
MAX_URL = 2048
MAX_WEBHOOKS = 20
COLUMNS = "id, tenant_id, url, events, active, created_at, updated_at"
Subscriptions = tuple[tuple[int, frozenset[str]], ...]


@dataclass(frozen=True)
class Webhook:
    id: int
    tenant_id: int
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> Webhook:
        return cls(
            id=row["id"],
            tenant_id=row["tenant_id"],
            url=row["url"],
            events=tuple(orjson.loads(row["events"])),
            active=bool(row["active"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


async def parse_url(value: Any, *, production: bool, egress: Egress) -> str:
    """A destination URL, or `Invalid` naming "url": https (http too outside production), a
    host, and nothing internal unless the operator allowed it."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_URL:
        raise Invalid("url", f"is required: an https URL of at most {MAX_URL} characters")
    url = value.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise Invalid("url", "is not a valid URL") from None
    schemes = ("https",) if production else ("https", "http")
    if parts.scheme.lower() not in schemes or not parts.hostname:
        what = "an https URL" if production else "an http(s) URL"
        raise Invalid("url", f"must be {what} with a host")
    if parts.username or parts.password:
        raise Invalid("url", "must not carry a user name or password")
    try:
        egress.check_url(url)
        await egress.check_resolved(parts.hostname)
    except EgressRefused as refused:
        raise Invalid(
            "url",
            f"must not point inside the server's network ({refused}); the operator can allow"
            " a host with [egress] allow_hosts",
        ) from None
    return url


def parse_events(value: Any) -> list[str]:
    """The subscribed event names, deduplicated in the order given; `Invalid` names "events"."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Invalid("events", f"must be a non-empty list of event names from {', '.join(EVENTS)}")
    unknown = [name for name in value if name not in EVENTS]
    if unknown:
        raise Invalid("events", f"{unknown[0][:60]!r} is not an event; use {', '.join(EVENTS)}")
    return list(dict.fromkeys(value))


def parse_active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("active", "must be true or false")
    return value


def _forget(tx: Tx, tenant_id: int) -> None:
    """Drop the tenant's cached subscriptions now and once the change is committed (a batch
    rolled back after another op reloaded them must not leave them stale)."""
    key = ("webhooks", tenant_id)
    tx.cache.pop(key, None)
    tx.after_commit(lambda: tx.cache.pop(key, None))


async def subscriptions(tx: Tx, tenant_id: int) -> Subscriptions:
    """The tenant's active webhooks and their events, from the cache or loaded into it.

    On PostgreSQL another process may change them at any moment, so they are read every time.
    """
    key = ("webhooks", tenant_id)
    cached: Subscriptions | None = tx.cache.get(key)
    if cached is None:
        rows = await tx.fetch_all(
            "SELECT id, events FROM webhooks WHERE tenant_id = :t AND active = 1", {"t": tenant_id}
        )
        cached = tuple((row["id"], frozenset(orjson.loads(row["events"]))) for row in rows)
        if tx.dialect == "sqlite":
            tx.cache[key] = cached
    return cached


async def _load(tx: Tx, webhook_id: int) -> Webhook:
    row = await tx.fetch_one(f"SELECT {COLUMNS} FROM webhooks WHERE id = :id", {"id": webhook_id})
    assert row is not None, f"webhook {webhook_id} vanished inside its transaction"
    return Webhook.from_row(row)


async def create(
    db: Database, tenant_id: int, actor_id: int, url: str, events: list[str], ip: str | None
) -> tuple[Webhook, str]:
    """Store a webhook; returns it and its signing secret (the only time it is given out)."""
    secret = "whsec_" + secrets.token_urlsafe(32)

    async def op(tx: Tx) -> Webhook:
        # Two creations at once (two processes) are counted one after the other.
        await tx.lock(f"webhooks:{tenant_id}")
        count = await tx.fetch_one(
            "SELECT COUNT(*) FROM webhooks WHERE tenant_id = :t", {"t": tenant_id}
        )
        if count is not None and count[0] >= MAX_WEBHOOKS:
            raise Invalid("url", f"a tenant has at most {MAX_WEBHOOKS} webhooks")
        now = times.now_iso()
        webhook_id = await tx.execute(
            "INSERT INTO webhooks (tenant_id, url, events, secret, active, created_at, updated_at)"
            " VALUES (:t, :url, :events, :secret, 1, :now, :now)",
            {
                "t": tenant_id,
                "url": url,
                "events": orjson.dumps(events).decode(),
                "secret": secret,
                "now": now,
            },
        )
        _forget(tx, tenant_id)
        await audit.record(
            tx,
            tenant_id=tenant_id,
            actor_id=actor_id,
            action="webhook.created",
            target=f"webhook:{webhook_id}",
            details={"host": urlsplit(url).hostname, "events": events},
            ip=ip,
        )
        return await _load(tx, webhook_id)

    return await db.write(op), secret


async def tenant_webhooks(db: Database, tenant_id: int) -> list[Webhook]:
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM webhooks WHERE tenant_id = :t ORDER BY id", {"t": tenant_id}
    )
    return [Webhook.from_row(row) for row in rows]


async def find(db: Database, tenant_id: int, webhook_id: int) -> Webhook:
    """The tenant's webhook; another tenant's id reads as missing."""
    row = await db.fetch_one(
        f"SELECT {COLUMNS} FROM webhooks WHERE id = :id AND tenant_id = :t",
        {"id": webhook_id, "t": tenant_id},
    )
    if row is None:
        raise NotFound("No such webhook.")
    return Webhook.from_row(row)


async def update(
    db: Database,
    tenant_id: int,
    actor_id: int,
    webhook_id: int,
    changes: dict[str, Any],
    ip: str | None,
) -> Webhook:
    """Change a webhook's `url`, `events` and/or `active` (already checked)."""

    async def op(tx: Tx) -> Webhook:
        params = {
            "id": webhook_id,
            "t": tenant_id,
            "now": times.now_iso(),
            "url": changes.get("url"),
            "events": None if "events" not in changes else orjson.dumps(changes["events"]).decode(),
            "active": None if "active" not in changes else int(changes["active"]),
        }
        changed = await tx.execute(
            "UPDATE webhooks SET url = COALESCE(:url, url), events = COALESCE(:events, events),"
            " active = COALESCE(:active, active), updated_at = :now"
            " WHERE id = :id AND tenant_id = :t",
            params,
        )
        if not changed:
            raise NotFound("No such webhook.")
        _forget(tx, tenant_id)
        details = {key: value for key, value in changes.items() if key != "url"}
        if "url" in changes:
            details["host"] = urlsplit(changes["url"]).hostname
        await audit.record(
            tx,
            tenant_id=tenant_id,
            actor_id=actor_id,
            action="webhook.updated",
            target=f"webhook:{webhook_id}",
            details=details,
            ip=ip,
        )
        return await _load(tx, webhook_id)

    return await db.write(op)


async def delete(
    db: Database, tenant_id: int, actor_id: int, webhook_id: int, ip: str | None
) -> None:
    """Delete a webhook and its delivery log; what was queued for it is never sent."""

    async def op(tx: Tx) -> None:
        changed = await tx.execute(
            "DELETE FROM webhooks WHERE id = :id AND tenant_id = :t",
            {"id": webhook_id, "t": tenant_id},
        )
        if not changed:
            raise NotFound("No such webhook.")
        _forget(tx, tenant_id)
        await audit.record(
            tx,
            tenant_id=tenant_id,
            actor_id=actor_id,
            action="webhook.deleted",
            target=f"webhook:{webhook_id}",
            ip=ip,
        )

    await db.write(op)


async def secret_of(db: Database, webhook_id: int) -> tuple[str, str] | None:
    """The URL and signing secret of a webhook (the sender's), None when it is gone."""
    row = await db.fetch_one("SELECT url, secret FROM webhooks WHERE id = :id", {"id": webhook_id})
    return None if row is None else (row["url"], row["secret"])
