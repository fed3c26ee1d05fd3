"""The one signer for expiring links: an HMAC of (purpose, value, expiry) with the server key.

A signed link needs no bearer token, so an `<img>` can load it, and never carries one either.
Each purpose gets its own derived key, so a signature made for one use is worthless for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time


class Signer:
    """Signs and checks `(purpose, value, expires)`; `expires` is a Unix time in seconds."""

    def __init__(self, secret_key: str | None = None, ttl_seconds: int = 86400) -> None:
        # Without a key (domain tests, CLI tools) links are signed with a throwaway one.
        key = secret_key.encode() if secret_key else secrets.token_bytes(32)
        self._key = hmac.new(key, b"omnichat signed links v1", hashlib.sha256).digest()
        # How long the links handed out in answers and frames last.
        self.ttl_seconds = ttl_seconds

    def signature(self, purpose: str, value: str, expires: int) -> str:
        message = f"{purpose}\n{value}\n{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def check(self, purpose: str, value: str, expires: int, signature: str) -> bool:
        """Whether `signature` is ours for these values (expiry not checked: see `expired`)."""
        expected = self.signature(purpose, value, expires)
        return hmac.compare_digest(expected.encode(), signature.encode())


def expiry(ttl_seconds: int, now: float | None = None, step: int = 3600) -> int:
    """An expiry at least `ttl_seconds` away, rounded up to `step`, so a link stays the same
    for a while (browsers cache the file) instead of changing on every read."""
    now = time.time() if now is None else now
    return int(math.ceil((now + ttl_seconds) / step) * step)
