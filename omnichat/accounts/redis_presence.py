"""Presence across processes: which staff have an agent socket open in any process.

Each process counts its own sockets (the in-memory `Presence`) and shares, through the Redis
hub's census, the users it has at least one socket for, so `connected` and `connected_in`
stay synchronous reads of a local mirror. Announcements go over the Redis hub to every
process's agents. A process killed with sockets open stops renewing its census; when the
others notice (within three heartbeats) each tells its own agents those users went offline.

One approximation: a user's availability switch is known to the processes that hold their
sockets when they open, and to the one that serves the switch. When the last socket of a user
closes, the offline announcement may therefore carry an older availability; `online` is right.
"""

from __future__ import annotations

import orjson

from omnichat.accounts.presence import Availability, Presence, topic
from omnichat.protocol.redis_hub import RedisHub

# Census spaces: users by id (valued "tenant:availability"), and each tenant's users.
USERS = "presence-users"


def _tenant_space(tenant_id: int) -> str:
    return f"presence-tenant:{tenant_id}"


class RedisPresence(Presence):
    def __init__(self, hub: RedisHub) -> None:
        super().__init__(hub)
        self._redis_hub = hub
        hub.census.on_vanished.append(self._vanished)

    def connected(self, user_id: int) -> bool:
        """Whether `user_id` has an agent socket open in any process."""
        return super().connected(user_id) or bool(
            self._redis_hub.census.values(USERS, str(user_id))
        )

    def connected_in(self, tenant_id: int) -> frozenset[int]:
        """The users of `tenant_id` with an agent socket open in any process."""
        elsewhere = self._redis_hub.census.members(_tenant_space(tenant_id))
        return super().connected_in(tenant_id) | {int(user_id) for user_id in elsewhere}

    def opened(self, tenant_id: int, user_id: int, availability: Availability) -> None:
        # Shared before the announcement, which follows it through the same ordered outbox.
        self._share(tenant_id, user_id, availability)
        super().opened(tenant_id, user_id, availability)

    def closed(self, tenant_id: int, user_id: int) -> None:
        if self._sockets.get(user_id, 0) > 1:
            super().closed(tenant_id, user_id)
            return
        self._redis_hub.unshare(USERS, str(user_id))
        self._redis_hub.unshare(_tenant_space(tenant_id), str(user_id))
        availability = self._availability.get(user_id)
        super().closed(tenant_id, user_id)
        if availability == "away" and not self.connected(user_id):
            # The switch may have been turned on in another process meanwhile: say offline.
            self._announce(tenant_id, user_id, availability)

    def switched(self, tenant_id: int, user_id: int, availability: Availability) -> None:
        if super().connected(user_id):
            self._share(tenant_id, user_id, availability)
        super().switched(tenant_id, user_id, availability)

    def _share(self, tenant_id: int, user_id: int, availability: Availability) -> None:
        self._redis_hub.share(USERS, str(user_id), f"{tenant_id}:{availability}")
        self._redis_hub.share(_tenant_space(tenant_id), str(user_id), availability)

    def _vanished(self, space: str, member: str, value: str) -> None:
        """A dead process held `member`: tell this process's agents, if it was online."""
        if space != USERS:
            return
        tenant, _, availability = value.partition(":")
        if availability == "online" and not self.connected(int(member)):
            frame = {"type": "presence", "user_id": int(member)}
            frame |= {"availability": availability, "online": False}
            self._redis_hub.deliver_here(topic(int(tenant)), orjson.dumps(frame).decode())
