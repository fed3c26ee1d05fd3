"""Where the server may send requests that someone else chose the destination of.

An admin of any tenant sets a site's `alert_webhook_url`, and any visitor can set off an alert:
without a guard the server POSTed to 127.0.0.1, 169.254.169.254 (cloud metadata), [::1] or
0x7f000001 on request, and the delivery counters told whether a port was open. Every outbound
call to such a destination (alert webhooks today; outgoing webhooks, push endpoints and media
fetches as they come) goes through this one guard:

- `check_url` refuses at once a URL whose host is an internal address written literally in any
  form (dotted, integer, hex, octal, short, IPv6, IPv4-mapped IPv6) or an internal name
  (`localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa`, a name without a dot).
  Site validation calls it, so such a URL is refused when saved (422).
- `session` gives an aiohttp session whose resolver drops internal addresses from every DNS
  answer at connect time, so a public name that resolves (or is re-bound) to an internal address
  is never connected to: the check and the connection use the same lookup.

Internal means not globally routable: loopback, private, shared (CGNAT), link-local (which holds
the metadata services), multicast, reserved, unspecified, documentation and benchmarking ranges,
including IPv4 embedded in IPv6 (mapped, 6to4, NAT64). The operator can allow hosts that must be
reached anyway with `[egress] allow_hosts`: a name (exactly, case-insensitively; its answers are
not filtered), an address or a network (`10.1.0.0/16`). The operator's own settings (the Twilio
API URL) are trusted and not guarded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

NAT64 = ipaddress.ip_network("64:ff9b::/96")
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
# What the C library's inet_aton reads as IPv4: 2130706433, 0x7f000001, 0177.0.0.1, 127.1.
# How long a URL being saved may take to resolve before it is let through unresolved.
RESOLVE_SECONDS = 3.0
LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)


class EgressRefused(OSError):
    """The destination is internal and not allowed; the message says which host and why."""


def literal_address(host: str) -> Address | None:
    """The address `host` spells, in any form a resolver would accept; None for a name."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_internal(address: Address) -> bool:
    """True for any address that is not plainly on the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and is_internal(embedded):
            return True
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def is_internal_name(name: str) -> bool:
    name = name.lower().rstrip(".")
    return name == "localhost" or name.endswith(INTERNAL_SUFFIXES) or "." not in name


class Egress:
    """The guard, with the operator's allow-list."""

    def __init__(self, allow_hosts: Iterable[str] = ()) -> None:
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for item in allow_hosts:
            item = item.strip().lower()
            try:
                self.networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                address = literal_address(item)
                if address is not None:
                    self.networks.append(ipaddress.ip_network(address))
                elif item:
                    self.names.add(item.rstrip("."))

    def address_allowed(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return not is_internal(address) or any(address in net for net in self.networks)

    def name_allowed(self, name: str) -> bool:
        return name.lower().rstrip(".") in self.names

    def check_host(self, host: str) -> None:
        """Refuse a host that is an internal address or name, unless allowed."""
        if self.name_allowed(host):
            return
        address = literal_address(host)
        if address is not None:
            if not self.address_allowed(address):
                raise EgressRefused(f"{host} is an internal address")
        elif is_internal_name(host):
            raise EgressRefused(f"{host} is an internal name")

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is internal (see `check_host`) or missing."""
        try:
            host = urlsplit(url).hostname
        except ValueError:
            host = None
        if not host:
            raise EgressRefused("the URL has no host")
        self.check_host(host)

    async def check_resolved(self, host: str) -> None:
        """Refuse a name that resolves now to any internal address not allowed (for a URL an
        admin saves, to say so at once). A name that does not resolve passes: the connection
        is checked again by the session's resolver."""
        if self.name_allowed(host) or literal_address(host) is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(RESOLVE_SECONDS):
                found = await loop.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, TimeoutError, UnicodeError):
            return
        for *_, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if not self.address_allowed(address):
                raise EgressRefused(f"{host} resolves to an internal address")

    def session(self, **options: Any) -> aiohttp.ClientSession:
        """An aiohttp session that never connects to an internal address not allowed."""
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self))
        return aiohttp.ClientSession(connector=connector, trust_env=False, **options)


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then keeps only the addresses the guard allows, so the connection is
    made to an address checked in the same lookup (no window for DNS rebinding)."""

    def __init__(self, egress: Egress, inner: AbstractResolver | None = None) -> None:
        self._egress = egress
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self._egress.name_allowed(host):
            return found
        kept = [item for item in found if self._allowed(item["host"])]
        if not kept:
            raise EgressRefused(f"{host} resolves only to internal addresses")
        return kept

    def _allowed(self, host: str) -> bool:
        try:
            return self._egress.address_allowed(ipaddress.ip_address(host))
        except ValueError:
            return False

    async def close(self) -> None:
        await self._inner.close()


def refusal(exc: BaseException) -> EgressRefused | None:
    """The guard's refusal behind an aiohttp error (it wraps resolver errors), if that is it."""
    while exc is not None:
        if isinstance(exc, EgressRefused):
            return exc
        os_error = getattr(exc, "os_error", None)
        if isinstance(os_error, EgressRefused):
            return os_error
        exc = exc.__cause__  # type: ignore[assignment]
    return None
