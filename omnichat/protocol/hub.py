"""The in-process hub: live frames fanned out to sockets through bounded per-socket queues.

Topics name who listens: `("visitor", id)` for a visitor's tabs, `("tenant", id)` for its
agents, `("user", id)` and `("session", id)` so an account's sockets can be closed at once.
Publishing never awaits: a frame is encoded once by the caller and appended to each
subscriber's queue; a subscriber whose queue is full has stopped reading and is closed instead of
slowing everyone else. This is the seam a multi-process deployment would back with Redis
pub/sub; nothing here knows about sockets or Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

Topic = tuple[str, int]

# Close codes the socket endpoints pass on to the client. 4401: authenticate again (the hello
# failed, the access token expired, or the session ended or the account changed meanwhile).
CLOSE_AUTH = 4401
CLOSE_TOO_SLOW = 1008
CLOSE_GOING_AWAY = 1001


class Closed(Exception):
    """The subscriber was closed; `code` and `reason` say how the socket should close."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Subscriber:
    """One socket's outgoing queue of encoded frames.

    Frames may carry an ordering key (a message seq, an event id); after a replay from the
    database, `skip_through(key)` drops live frames the replay already delivered, so the client
    sees no gap and no duplicate.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        # A list and a bare future rather than a deque and an Event: an idle socket's queue is
        # empty, and those two cost ~1.5 KB each socket at rest (thousands sit idle).
        self._frames: list[tuple[str, int | None]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._skip_through = 0
        # The highest key handed to the socket so far (replayed or live).
        self.highest_key = 0
        self.closed: Closed | None = None

    def offer(self, frame: str, key: int | None = None) -> None:
        if self.closed is not None:
            return
        if len(self._frames) >= self._limit:
            self.close(CLOSE_TOO_SLOW, "too slow: stopped reading")
            return
        self._frames.append((frame, key))
        self._wake()

    def skip_through(self, key: int) -> None:
        self._skip_through = max(self._skip_through, key)
        self.highest_key = max(self.highest_key, key)

    def close(self, code: int, reason: str) -> None:
        """Ask the socket to close after the frames it already has; later offers are dropped."""
        if self.closed is None:
            self.closed = Closed(code, reason)
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self) -> str:
        """The next frame to send; raises `Closed` once closed and drained of what came before."""
        while True:
            while self._frames:
                frame, key = self._frames.pop(0)
                if key is None:
                    return frame
                if key > self._skip_through:
                    self.highest_key = max(self.highest_key, key)
                    return frame
            if self.closed is not None:
                raise self.closed
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    @property
    def pending(self) -> int:
        return len(self._frames)


class Hub:
    def __init__(self) -> None:
        self._topics: dict[Topic, set[Subscriber]] = defaultdict(set)

    def publish(
        self, topic: Topic, frame: str, key: int | None = None, exclude: Subscriber | None = None
    ) -> None:
        """Queue `frame` for every subscriber of `topic` but `exclude` (the sender)."""
        for subscriber in tuple(self._topics.get(topic, ())):
            if subscriber is not exclude:
                subscriber.offer(frame, key)

    def listening(self, topic: Topic) -> bool:
        """Whether any socket listens on `topic` now (a visitor with the chat open)."""
        return any(subscriber.closed is None for subscriber in self._topics.get(topic, ()))

    def close(self, topic: Topic, code: int, reason: str) -> None:
        """Close every socket listening on `topic` (a revoked session, a disabled user)."""
        for subscriber in tuple(self._topics.get(topic, ())):
            subscriber.close(code, reason)

    def close_all(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        for subscribers in tuple(self._topics.values()):
            for subscriber in tuple(subscribers):
                subscriber.close(code, reason)

    @contextlib.asynccontextmanager
    async def join(self, *topics: Topic, limit: int = 1000) -> AsyncIterator[Subscriber]:
        """Subscribe to `topics` for the duration of the block; always unsubscribes."""
        subscriber = Subscriber(limit)
        for topic in topics:
            self._topics[topic].add(subscriber)
        try:
            await self._joined(subscriber, topics)
            yield subscriber
        finally:
            self._leave(subscriber, topics)

    async def _joined(self, subscriber: Subscriber, topics: tuple[Topic, ...]) -> None:
        """Wait until frames published on `topics` will reach `subscriber` (at once here)."""

    def _leave(self, subscriber: Subscriber, topics: tuple[Topic, ...]) -> None:
        for topic in topics:
            listeners = self._topics.get(topic)
            if listeners is not None:
                listeners.discard(subscriber)
                if not listeners:
                    del self._topics[topic]
