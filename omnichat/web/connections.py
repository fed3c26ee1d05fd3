"""Who may hold a connection open: a cap on all connections and one per client address.

The counts live below the ASGI app (see `omnichat.web.protocols`), because a connection costs a
file descriptor from the moment it is accepted, long before a request reaches the app: 450
connections from one address sending half a request head once held the server at its open-file
limit, and every other client was reset. Every connection counts toward `max_connections`
(WebSockets included, as they hold a descriptor too); plain HTTP connections also count toward
`connections_per_ip`. An upgraded connection leaves the per-address count, because WebSockets are
capped per client address by `limits.sockets_per_ip` in the app, which sees the client behind a
trusted proxy. The proxies themselves are exempt from the per-address cap (every client arrives
from them), so behind a proxy only the proxy's own limits and `max_connections` apply.
"""

from __future__ import annotations

import ipaddress
import logging
import resource
import time
from collections import Counter
from collections.abc import Hashable

from omnichat.metrics import Metrics

log = logging.getLogger("omnichat.http")

# Descriptors kept for everything but client connections: the database and its WAL, log files,
# outgoing calls (Twilio, alerts), backups.
FD_HEADROOM = 100
# Under a flood, say so in the log at most this often per reason, not once per connection.
WARN_EVERY_SECONDS = 60.0
PER_IP, TOTAL = "per_ip", "max_connections"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normal_ip(host: str) -> str:
    """The address as one spelling: an IPv4 client on a dual-stack socket counts as IPv4."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class TrustedProxies:
    """`server.forwarded_allow_ips` as uvicorn reads it: addresses, networks, or `*`."""

    def __init__(self, value: str) -> None:
        items = [item.strip() for item in value.split(",") if item.strip()]
        self.everyone = "*" in items
        self.networks: list[Network] = []
        for item in items:
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue  # a unix socket path or a name: never a TCP peer's address

    def __contains__(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class ConnectionCounts:
    """Open connections in total and plain-HTTP ones per address; refuses those over a cap."""

    def __init__(
        self, max_connections: int, per_ip: int, trusted: TrustedProxies, metrics: Metrics
    ) -> None:
        self.max_connections = max_connections
        self.per_ip = per_ip  # 0: no per-address cap
        self.trusted = trusted
        self.metrics = metrics
        self.open: dict[Hashable, str | None] = {}  # connection -> address counted per IP
        self.by_ip: Counter[str] = Counter()
        self._warned: dict[str, float] = {}

    def admit(self, connection: Hashable, host: str) -> str | None:
        """Count a new connection; None when admitted, else why not (`per_ip` or
        `max_connections`), and then it is not counted."""
        ip = normal_ip(host)
        counted = None if self.per_ip == 0 or ip in self.trusted else ip
        if len(self.open) >= self.max_connections:
            return self._refused(TOTAL, ip)
        if counted is not None and self.by_ip[counted] >= self.per_ip:
            return self._refused(PER_IP, ip)
        self.open[connection] = counted
        if counted is not None:
            self.by_ip[counted] += 1
        self.metrics.http_connections_open.set(len(self.open))
        return None

    def upgraded(self, connection: Hashable) -> None:
        """The connection became a WebSocket: it stays open but leaves the per-address count."""
        if self.open.get(connection) is not None:
            self._uncount(connection)
            self.open[connection] = None

    def release(self, connection: Hashable) -> None:
        """The connection closed (safe to call twice, or for one never admitted)."""
        if connection in self.open:
            self._uncount(connection)
            del self.open[connection]
            self.metrics.http_connections_open.set(len(self.open))

    def _uncount(self, connection: Hashable) -> None:
        ip = self.open[connection]
        if ip is not None:
            self.by_ip[ip] -= 1
            if self.by_ip[ip] <= 0:
                del self.by_ip[ip]

    def _refused(self, reason: str, ip: str) -> str:
        self.metrics.http_connections_dropped.labels(reason).inc()
        now = time.monotonic()
        if now - self._warned.get(reason, -WARN_EVERY_SECONDS) >= WARN_EVERY_SECONDS:
            self._warned[reason] = now
            limit = self.per_ip if reason == PER_IP else self.max_connections
            log.warning(
                "connections refused: limit reached (said once a minute at most)",
                extra={"fields": {"reason": reason, "limit": limit, "client": ip}},
            )
        return reason


def fit_to_fd_limit(max_connections: int) -> int:
    """The connection cap the process can honour: raise the soft open-file limit toward the
    hard one when needed, and when even that is too low, lower the cap (and say so)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FD_HEADROOM
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return max_connections
    fitted = max(soft - FD_HEADROOM, 16)
    log.warning(
        "server.max_connections lowered to fit the open-file limit (ulimit -n)",
        extra={"fields": {"max_connections": fitted, "asked": max_connections, "nofile": soft}},
    )
    return fitted
