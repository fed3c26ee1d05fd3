"""Password rules and bcrypt hashing.

bcrypt reads only the first 72 bytes, so we hash a SHA-256 digest of the password (base64, 44
bytes) instead: a 128-character password is never silently truncated. Hashing is CPU work:
callers on the event loop use the async functions, which run it in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import secrets

import bcrypt

from omnichat.errors import Invalid

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON = frozenset(
    [
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "p@ssw0rd",
        "12345678",
        "123456789",
        "1234567890",
        "0123456789",
        "11111111",
        "00000000",
        "12341234",
        "87654321",
        "qwertyui",
        "qwertyuiop",
        "qwerty123",
        "qwerty12",
        "1q2w3e4r",
        "1qaz2wsx",
        "zaq12wsx",
        "abcd1234",
        "abc12345",
        "abcdefgh",
        "iloveyou",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "welcome1",
        "welcome123",
        "letmein1",
        "letmein123",
        "admin123",
        "administrator",
        "changeme",
        "changeme1",
        "trustno1",
        "dragon123",
        "monkey123",
        "superman",
        "starwars",
        "whatever",
        "computer",
        "internet",
        "michelle",
        "jennifer",
        "liverpool",
        "chocolate",
        "password!",
        "omnichat",
        "omnichat1",
    ]
)
# A valid hash of a random password, verified when the account does not exist, so a login for an
# unknown email takes as long as one for a known email.
_DUMMY_PASSWORD = secrets.token_urlsafe(16)


def check_rules(password: str, field: str = "password") -> None:
    """Raise `Invalid` unless the password is 8-128 characters and not a common one."""
    if len(password) < MIN_LENGTH:
        raise Invalid(field, f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise Invalid(field, f"must be at most {MAX_LENGTH} characters")
    if password.lower() in COMMON:
        raise Invalid(field, "is too common; choose another")


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password_sync(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify_password_sync(password: str, password_hash: str | None, rounds: int) -> bool:
    """Check `password`; without a hash, spend as long on a dummy one of cost `rounds`."""
    if not password_hash:
        bcrypt.checkpw(_prehash(password), _dummy_hash(rounds))
        return False
    return bcrypt.checkpw(_prehash(password), password_hash.encode())


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    return hash_password_sync(_DUMMY_PASSWORD, rounds).encode()


async def hash_password(password: str, rounds: int) -> str:
    return await asyncio.to_thread(hash_password_sync, password, rounds)


async def verify_password(password: str, password_hash: str | None, rounds: int) -> bool:
    return await asyncio.to_thread(verify_password_sync, password, password_hash, rounds)


def generate_password() -> str:
    return secrets.token_urlsafe(15)
