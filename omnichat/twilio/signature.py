"""X-Twilio-Signature: HMAC-SHA1, keyed with the auth token, over the URL and sorted parameters.

The URL is the one Twilio called, as configured in its console: behind a reverse proxy that is
`twilio.public_base_url` plus the path and query, never the scheme and host this process sees.
Like Twilio's own validators we also accept the URL with the scheme's default port added or
removed, because Twilio may sign either form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def compute(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """The signature Twilio sends for a POST of form `params` to `url`."""
    grouped: dict[str, set[str]] = {}
    for key, value in params:
        grouped.setdefault(key, set()).add(value)
    # Keys sorted, then each key's values sorted: what Twilio's helper libraries do.
    signed = url + "".join(key + value for key in sorted(grouped) for value in sorted(grouped[key]))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = userinfo + "@" if userinfo else ""
    if parts.port is None:
        other = prefix + f"{host}:{default}"
    elif parts.port == default:
        other = prefix + host
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=other))]


def verify(
    url: str, params: Iterable[tuple[str, str]], auth_token: str, signature: str | None
) -> bool:
    """Whether `signature` is Twilio's for this request; compared in constant time."""
    if not signature or not auth_token:
        return False
    pairs = list(params)
    given = signature.strip().encode()
    found = False
    for candidate in _port_variants(url):
        # No early exit: every variant is computed and compared whatever the outcome.
        found |= hmac.compare_digest(compute(candidate, pairs, auth_token).encode(), given)
    return found
