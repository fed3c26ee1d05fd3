"""Sealing secrets that must wait in the database: a reset or invitation link in a queued mail.

The link's token is stored only as a hash in `account_links`, but the mail that carries it may
wait hours for an SMTP server to come back, and must survive a restart meanwhile. So the queued
row holds the token sealed with AES-GCM under a key derived from the server's secret key: a copy
of the database (a backup) alone reveals no usable link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PURPOSE = b"omnichat-notification-seal"
NONCE_BYTES = 12


class Sealer:
    def __init__(self, secret_key: str) -> None:
        key = hmac.new(secret_key.encode(), PURPOSE, hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def seal(self, text: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, text.encode(), None)
        return base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str) -> str | None:
        """The sealed text, or None when it was sealed under another secret key."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
        except (InvalidTag, ValueError):
            return None
