"""Presence: which staff members have an agent socket open in this process, and telling the
team when someone's presence changes.

A user is online when their availability switch is `online` and at least one of their agent
sockets is open. The switch is stored with the user; the sockets are known only to the process
that holds them, so they are counted here, in memory. This class is the seam a multi-process
mode replaces (counts and announcements shared through Redis); nothing else keeps socket counts.

Announcements are ephemeral frames, `{"type": "presence", "user_id", "availability", "online"}`,
on the tenant's presence topic, which agent sockets join when their hello asks for it. They are
not stored events: presence is live state, and replaying yesterday's "online" would be wrong.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import orjson

from omnichat.protocol.hub import Hub, Topic

Availability = Literal["online", "away"]
AVAILABILITIES: tuple[Availability, ...] = ("online", "away")


def topic(tenant_id: int) -> Topic:
    """The hub topic a tenant's presence frames go to."""
    return ("presence", tenant_id)


class Presence:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._sockets: dict[int, int] = {}
        self._by_tenant: dict[int, set[int]] = defaultdict(set)
        # The switch as last read or set here, for users with a socket open: announcing a
        # closing socket must not need the database (it may be closing too).
        self._availability: dict[int, Availability] = {}

    def connected(self, user_id: int) -> bool:
        """Whether `user_id` has an agent socket open here."""
        return user_id in self._sockets

    def connected_in(self, tenant_id: int) -> frozenset[int]:
        """The users of `tenant_id` with an agent socket open here, whatever their switch."""
        return frozenset(self._by_tenant.get(tenant_id, ()))

    def opened(self, tenant_id: int, user_id: int, availability: Availability) -> None:
        """An agent socket of the user opened; the first one makes them online (if the switch
        says so) and the team is told."""
        count = self._sockets.get(user_id, 0)
        self._sockets[user_id] = count + 1
        self._by_tenant[tenant_id].add(user_id)
        self._availability[user_id] = availability
        if count == 0 and availability == "online":
            self._announce(tenant_id, user_id, availability)

    def closed(self, tenant_id: int, user_id: int) -> None:
        """An agent socket of the user closed; with the last one they are offline."""
        count = self._sockets.get(user_id, 0) - 1
        if count > 0:
            self._sockets[user_id] = count
            return
        self._sockets.pop(user_id, None)
        members = self._by_tenant.get(tenant_id)
        if members is not None:
            members.discard(user_id)
            if not members:
                del self._by_tenant[tenant_id]
        availability = self._availability.pop(user_id, None)
        if availability == "online":
            self._announce(tenant_id, user_id, availability)

    def switched(self, tenant_id: int, user_id: int, availability: Availability) -> None:
        """The user's switch changed (already stored): tell the team."""
        if user_id in self._sockets:
            self._availability[user_id] = availability
        self._announce(tenant_id, user_id, availability)

    def _announce(self, tenant_id: int, user_id: int, availability: Availability) -> None:
        frame = {
            "type": "presence",
            "user_id": user_id,
            "availability": availability,
            "online": availability == "online" and self.connected(user_id),
        }
        self._hub.publish(topic(tenant_id), orjson.dumps(frame).decode())
