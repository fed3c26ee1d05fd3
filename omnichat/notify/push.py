"""Web push: the installation's VAPID keys, staff's subscriptions, and one encrypted push.

The key pair is made at first start and kept in the database (table `push_keys`), so every
backup carries it with the subscriptions made for it. pywebpush encrypts the payload
(aes128gcm, RFC 8291) for the subscription's keys; py_vapid signs the `Authorization: vapid`
header (RFC 8292). The POST itself goes through the egress guard's session, like every call
to a destination someone else chose: a push endpoint is a URL a browser gave us.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPusher

from omnichat import egress, times
from omnichat.accounts.staff import Staff
from omnichat.egress import Egress, EgressRefused
from omnichat.errors import Invalid, NotFound
from omnichat.storage.db import Database, Row, Tx

MAX_ENDPOINT = 1000
# How long a push service keeps a push for a device that is offline: a waiting patient is news
# for a few hours, not tomorrow.
TTL_SECONDS = 4 * 3600
# The VAPID token's lifetime (at most 24 h by RFC 8292).
VAPID_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Keys:
    private_pem: str
    public_key: str  # the uncompressed P-256 point, base64url: what the browser subscribes with


def _public(vapid: Vapid02) -> str:
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def ensure_keys(db: Database) -> Keys:
    """The installation's VAPID keys, made on first start."""
    row = await db.fetch_one("SELECT private_pem, public_key FROM push_keys WHERE id = 1")
    if row is not None:
        return Keys(row["private_pem"], row["public_key"])
    vapid = Vapid02()
    vapid.generate_keys()
    made = Keys(vapid.private_pem().decode(), _public(vapid))

    async def op(tx: Tx) -> Keys:
        # Another start may have raced us: the first pair stays.
        await tx.execute(
            "INSERT INTO push_keys (id, private_pem, public_key, created_at)"
            " VALUES (1, :pem, :public, :now) ON CONFLICT DO NOTHING",
            {"pem": made.private_pem, "public": made.public_key, "now": times.now_iso()},
        )
        row = await tx.fetch_one("SELECT private_pem, public_key FROM push_keys WHERE id = 1")
        assert row is not None
        return Keys(row["private_pem"], row["public_key"])

    return await db.write(op)


@dataclass(frozen=True)
class Subscription:
    id: int
    tenant_id: int
    user_id: int
    endpoint: str
    p256dh: str
    auth: str

    @classmethod
    def from_row(cls, row: Row) -> Subscription:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (sqlite3.Row)

    def info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def _b64(field: str, value: Any, size: int) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise Invalid(field, "must be a base64url string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(field, "must be a base64url string") from None
    if len(raw) != size:
        raise Invalid(field, f"must encode {size} bytes")
    return value.rstrip("=")


def parse_endpoint(value: Any, guard: Egress) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ENDPOINT:
        raise Invalid("endpoint", f"must be a URL of at most {MAX_ENDPOINT} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Invalid("endpoint", "must be the push service's https URL")
    try:
        guard.check_url(value)
    except EgressRefused as refused:
        raise Invalid("endpoint", f"cannot be reached from this server ({refused})") from None
    return value


def parse_subscription(body: dict[str, Any], guard: Egress) -> tuple[str, str, str]:
    """(endpoint, p256dh, auth) from what `PushSubscription.toJSON()` gives."""
    endpoint = parse_endpoint(body.get("endpoint"), guard)
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise Invalid("keys", "must be an object with p256dh and auth")
    return (
        endpoint,
        _b64("keys.p256dh", keys.get("p256dh"), 65),
        _b64("keys.auth", keys.get("auth"), 16),
    )


async def subscribe(db: Database, staff: Staff, endpoint: str, p256dh: str, auth: str) -> None:
    """Keep a device's subscription for the caller; the same endpoint again is updated (and
    moves to the caller when someone else had signed in on that browser before)."""

    async def op(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO push_subscriptions (tenant_id, user_id, endpoint, p256dh, auth,"
            " created_at) VALUES (:tenant, :user, :endpoint, :p256dh, :auth, :now)"
            " ON CONFLICT (endpoint) DO UPDATE SET tenant_id = :tenant, user_id = :user,"
            " p256dh = :p256dh, auth = :auth",
            {
                "tenant": staff.tenant_id,
                "user": staff.id,
                "endpoint": endpoint,
                "p256dh": p256dh,
                "auth": auth,
                "now": times.now_iso(),
            },
        )

    await db.write(op)


async def unsubscribe(db: Database, staff: Staff, endpoint: str) -> None:
    """Forget the caller's subscription at `endpoint` (404 when they have none there)."""

    async def op(tx: Tx) -> int:
        return await tx.execute(
            "DELETE FROM push_subscriptions WHERE endpoint = :endpoint AND user_id = :user",
            {"endpoint": endpoint, "user": staff.id},
        )

    if not await db.write(op):
        raise NotFound("you have no push subscription at this endpoint")


async def of_users(tx: Tx, user_ids: list[int]) -> list[Subscription]:
    if not user_ids:
        return []
    names = {f"u{i}": user_id for i, user_id in enumerate(user_ids)}
    rows = await tx.fetch_all(
        "SELECT id, tenant_id, user_id, endpoint, p256dh, auth FROM push_subscriptions"
        f" WHERE user_id IN ({', '.join(':' + name for name in names)}) ORDER BY id",
        names,
    )
    return [Subscription.from_row(row) for row in rows]


async def by_id(db: Database, subscription_id: int) -> Subscription | None:
    row = await db.fetch_one(
        "SELECT id, tenant_id, user_id, endpoint, p256dh, auth FROM push_subscriptions"
        " WHERE id = :id",
        {"id": subscription_id},
    )
    return None if row is None else Subscription.from_row(row)


async def drop(db: Database, subscription_id: int) -> None:
    """Forget a subscription its push service says is gone (404/410), and what waits for it."""

    async def op(tx: Tx) -> None:
        await tx.execute(
            "DELETE FROM notifications WHERE subscription_id = :id AND status != 'sending'",
            {"id": subscription_id},
        )
        await tx.execute("DELETE FROM push_subscriptions WHERE id = :id", {"id": subscription_id})

    await db.write(op)


def vapid_headers(keys: Keys, endpoint: str, subject: str) -> dict[str, str]:
    """`Authorization: vapid t=JWT,k=PUBLIC` for the endpoint's push service."""
    parts = urlsplit(endpoint)
    vapid = Vapid02.from_pem(keys.private_pem.encode())
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + VAPID_SECONDS,
        "sub": subject,
    }
    signed: dict[str, str] = vapid.sign(claims)
    return {"Authorization": signed["Authorization"]}


async def deliver(
    session: aiohttp.ClientSession,
    guard: Egress,
    keys: Keys,
    subscription: Subscription,
    payload: bytes,
    subject: str,
) -> int:
    """Encrypt `payload` for the subscription and POST it; returns the push service's status.
    Raises `EgressRefused` for an endpoint the guard refuses, aiohttp errors otherwise."""
    guard.check_url(subscription.endpoint)  # the allow-list may have shrunk since
    encoded = WebPusher(subscription.info()).encode(payload, "aes128gcm")
    headers = {
        **vapid_headers(keys, subscription.endpoint, subject),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL_SECONDS),
        "Urgency": "high",
    }
    try:
        async with session.post(
            subscription.endpoint, data=encoded["body"], headers=headers, allow_redirects=False
        ) as response:
            return response.status
    except aiohttp.ClientError as exc:
        refused = egress.refusal(exc)
        if refused is not None:
            raise refused from None
        raise
