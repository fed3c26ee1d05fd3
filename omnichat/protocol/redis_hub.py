"""The hub over Redis pub/sub, for several processes serving one installation.

Each topic is a channel (`omnichat:visitor:42`); a process subscribes to exactly the channels
its sockets joined (the first join subscribes, the last leave unsubscribes). `publish` never
awaits: it appends to an outbox that one task sends, pipelined, over one connection, so the
frames of a process reach Redis in the order it committed them. Every frame goes through Redis,
including those for this process's own sockets: one path gives every process the same order,
and the sender is excluded by the process id and subscriber token carried in the message.

Redis is not the source of truth, the database is. When the connection drops, frames may have
been lost, so every local subscriber is closed with `CLOSE_RESYNC` and its client reconnects
and resumes from the database (visitors by `last_seq`, agents by `last_event_id`). Sockets that
join while Redis is away are kept, and closed the same way once it is back and their channels
are subscribed again, since they may have missed frames meanwhile.

The census is what each process holds that the others must see (the visitors it has sockets
for, the agents it has online): each process owns a Redis hash that expires unless its
heartbeat renews it, announces changes on one channel, and keeps a mirror of the other
processes' hashes, re-read every heartbeat. Reads stay synchronous and cheap; a killed
process's entries vanish within three heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import uuid
from collections import Counter
from collections.abc import Collection
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from omnichat.protocol.census import Census, field
from omnichat.protocol.hub import Hub, Subscriber, Topic

log = logging.getLogger("omnichat.hub")

PREFIX = "omnichat"
CENSUS_CHANNEL = f"{PREFIX}:census"
# A process that lost frames it had to publish tells every process to resync its sockets.
RESYNC_CHANNEL = f"{PREFIX}:resync"
# Every live process's last heartbeat (Redis time), for limits that count per process.
PROCESSES_KEY = f"{PREFIX}:processes"
# 1012 "service restart": reconnect and resume from the database.
CLOSE_RESYNC = 1012
HEARTBEAT_SECONDS = 10.0
# Frames kept while Redis is away, sent when it is back; beyond this, everyone resyncs instead.
OUTBOX_LIMIT = 100_000
BACKOFF_BASE, BACKOFF_CAP = 0.1, 5.0
# The space of the census holding which topics (of `shared_kinds`) have a socket somewhere.
LISTENING = "listening"


def channel(topic: Topic) -> str:
    return f"{PREFIX}:{topic[0]}:{topic[1]}"


def census_key(process_id: str) -> str:
    return f"{PREFIX}:census:{process_id}"


class RedisHub(Hub):
    """A `Hub` whose topics span every process connected to the same Redis."""

    def __init__(
        self,
        url: str,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        shared_kinds: Collection[str] = ("visitor",),
    ) -> None:
        super().__init__()
        self.url = url
        self.process_id = uuid.uuid4().hex[:16]
        self.heartbeat = heartbeat
        self.shared_kinds = frozenset(shared_kinds)
        self.census = Census()
        self.connected = asyncio.Event()
        self._tokens: dict[Subscriber, int] = {}
        self._next_token = itertools.count(1)
        self._outbox: list[tuple[str, str, str]] = []
        self._outbox_ready = asyncio.Event()
        self._control: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._channels: dict[str, Topic] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._unconfirmed: Counter[str] = Counter()
        self._stale: set[Subscriber] = set()
        self._lost_frames = False
        # Set while nothing is queued or being sent (`stop` waits for it).
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect in the background; sockets may join at once (they resync once connected)."""
        self._task = asyncio.create_task(self._run(), name="redis-hub")

    async def stop(self, flush_seconds: float = 1.0) -> None:
        """Send what is queued (for at most `flush_seconds`), leave the census so the other
        processes forget this one at their next heartbeat, and disconnect."""
        self._send("leave", "", "")
        if self.connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), flush_seconds)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the Hub interface --------------------------------------------------------------------

    def publish(
        self, topic: Topic, frame: str, key: int | None = None, exclude: Subscriber | None = None
    ) -> None:
        """Queue `frame` for every subscriber of `topic` in every process but `exclude`."""
        token = self._tokens.get(exclude, 0) if exclude is not None else 0
        body = f"f\n{self.process_id}\n{token}\n{'' if key is None else key}\n{frame}"
        self._send("publish", channel(topic), body)

    def listening(self, topic: Topic) -> bool:
        """Whether a socket listens on `topic` in this process or, for `shared_kinds`, in any."""
        if super().listening(topic):
            return True
        member = f"{topic[0]}:{topic[1]}"
        return topic[0] in self.shared_kinds and self.census.held_elsewhere(LISTENING, member)

    def close(self, topic: Topic, code: int, reason: str) -> None:
        """Close every socket listening on `topic` in every process (here at once)."""
        super().close(topic, code, reason)
        self._send("publish", channel(topic), f"c\n{self.process_id}\n{code}\n{reason}")

    def deliver_here(self, topic: Topic, frame: str) -> None:
        """Queue `frame` for this process's subscribers of `topic` only."""
        Hub.publish(self, topic, frame)

    async def _joined(self, subscriber: Subscriber, topics: tuple[Topic, ...]) -> None:
        self._tokens[subscriber] = next(self._next_token)
        if not self.connected.is_set():
            # Subscribed when Redis is back, then closed so that the client resyncs.
            for topic in topics:
                self._register(topic)
            self._stale.add(subscriber)
            return
        waits = [self._subscribe(topic) for topic in topics]
        # `wait`, not `gather`: a join cancelled meanwhile must not cancel a shared future.
        await asyncio.wait(waits)

    def _leave(self, subscriber: Subscriber, topics: tuple[Topic, ...]) -> None:
        super()._leave(subscriber, topics)
        self._tokens.pop(subscriber, None)
        self._stale.discard(subscriber)
        for topic in topics:
            name = channel(topic)
            if topic not in self._topics and self._channels.pop(name, None) is not None:
                self._confirmed.pop(name, None)
                self._control.put_nowait(("unsubscribe", name))
                if topic[0] in self.shared_kinds:
                    self.unshare(LISTENING, f"{topic[0]}:{topic[1]}")

    def _subscribe(self, topic: Topic) -> asyncio.Future[None]:
        name = channel(topic)
        confirmed = self._confirmed.get(name)
        if confirmed is None:
            confirmed = self._confirmed[name] = asyncio.get_running_loop().create_future()
            self._register(topic)
            self._control.put_nowait(("subscribe", name))
        return confirmed

    def _register(self, topic: Topic) -> None:
        self._channels[channel(topic)] = topic
        if topic[0] in self.shared_kinds:
            self.share(LISTENING, f"{topic[0]}:{topic[1]}", "1")

    # -- the census ---------------------------------------------------------------------------

    def share(self, space: str, member: str, value: str) -> None:
        """Tell every process this one holds `member` of `space` (with `value`)."""
        name = field(space, member)
        self.census.mine[name] = value
        self._send("hset", name, value)

    def unshare(self, space: str, member: str) -> None:
        name = field(space, member)
        if self.census.mine.pop(name, None) is not None:
            self._send("hdel", name, "")

    # -- the connection -----------------------------------------------------------------------

    def _send(self, op: str, name: str, body: str) -> None:
        if not self.connected.is_set() and op != "publish":
            return  # the whole census is written again on reconnecting
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._lost_frames = True
            return
        self._outbox.append((op, name, body))
        self._outbox_ready.set()
        self._idle.clear()

    async def _run(self) -> None:
        for attempt in itertools.count():
            try:
                await self._session()
            except (RedisError, OSError) as exc:
                log.warning("redis hub: connection lost (%s); sockets resync", exc)
            self._lost()
            ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 10))
            await asyncio.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))

    async def _session(self) -> None:
        # No retries inside redis-py: a silent reconnect would hide lost frames from us.
        redis: Redis = Redis.from_url(self.url, decode_responses=True, retry=Retry(NoBackoff(), 0))
        pubsub = redis.pubsub()
        # Unsubscribes queued while away concern the last connection; from here the channels
        # of the topics joined now are subscribed afresh.
        self._control = asyncio.Queue()
        self._channels = {channel(topic): topic for topic in self._topics}
        tasks: list[asyncio.Task[None]] = []
        try:
            await pubsub.subscribe(CENSUS_CHANNEL, RESYNC_CHANNEL)
            for name in self._channels:
                self._confirmed[name] = asyncio.get_running_loop().create_future()
                self._unconfirmed[name] += 1
                await pubsub.subscribe(name)
            reader = asyncio.create_task(self._read(pubsub))
            tasks.append(reader)
            confirmations = list(self._confirmed.values())
            # Until every subscription is confirmed (at once when there is none), the reader
            # fails, or the time is up. `asyncio.wait` never cancels the shared futures.
            confirming = asyncio.create_task(_all_done(confirmations))
            await asyncio.wait(
                [reader, confirming], timeout=self.heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            confirming.cancel()
            if reader.done():
                reader.result()
            if not all(confirmation.done() for confirmation in confirmations):
                raise TimeoutError("subscriptions not confirmed")
            await self._publish_census(redis)
            await self._refresh(redis)
            if self._lost_frames:
                await redis.publish(RESYNC_CHANNEL, self.process_id)
                self._lost_frames = False
            self.connected.set()
            # Joined while Redis was away or being reached: they may have missed frames.
            for subscriber in tuple(self._stale):
                subscriber.close(CLOSE_RESYNC, "live updates restored: resync")
            self._stale.clear()
            tasks.append(asyncio.create_task(self._write(redis)))
            tasks.append(asyncio.create_task(self._control_loop(pubsub)))
            tasks.append(asyncio.create_task(self._beat(redis)))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            try:
                await _cancel(tasks)
            finally:
                try:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()
                finally:
                    with contextlib.suppress(RedisError, OSError):
                        await redis.aclose()

    def _lost(self) -> None:
        self.connected.clear()
        self._outbox = [item for item in self._outbox if item[0] == "publish"]
        self._unconfirmed.clear()
        for confirmed in self._confirmed.values():
            if not confirmed.done():
                confirmed.set_result(None)
        self._confirmed.clear()
        self._resync_here("live updates interrupted: resync")

    def _resync_here(self, reason: str) -> None:
        for subscribers in tuple(self._topics.values()):
            for subscriber in tuple(subscribers):
                subscriber.close(CLOSE_RESYNC, reason)

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            name = message["channel"]
            if message["type"] == "subscribe":
                self._unconfirmed[name] -= 1
                confirmed = self._confirmed.get(name)
                if self._unconfirmed[name] <= 0 and confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            elif message["type"] == "message":
                if name == RESYNC_CHANNEL:
                    self._resync_here("live updates were lost: resync")
                elif name == CENSUS_CHANNEL:
                    process_id, op, entry, value = message["data"].split("\n", 3)
                    if process_id != self.process_id:
                        self.census.apply(process_id, op, entry, value)
                elif (topic := self._channels.get(name)) is not None:
                    self._deliver(topic, message["data"])

    def _deliver(self, topic: Topic, data: str) -> None:
        if data.startswith("c"):
            _, _, code, reason = data.split("\n", 3)
            Hub.close(self, topic, int(code), reason)
            return
        _, origin, token, key, frame = data.split("\n", 4)
        skip = int(token) if origin == self.process_id else 0
        for subscriber in tuple(self._topics.get(topic, ())):
            if not skip or self._tokens.get(subscriber) != skip:
                subscriber.offer(frame, int(key) if key else None)

    async def _control_loop(self, pubsub: PubSub) -> None:
        while True:
            op, name = await self._control.get()
            if op == "subscribe":
                self._unconfirmed[name] += 1
                await pubsub.subscribe(name)
            else:
                await pubsub.unsubscribe(name)

    async def _write(self, redis: Redis) -> None:
        key = census_key(self.process_id)
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            batch, self._outbox = self._outbox, []
            pipe = redis.pipeline(transaction=False)
            for op, name, body in batch:
                if op == "publish":
                    pipe.publish(name, body)
                    continue
                if op == "leave":
                    pipe.delete(key)
                    pipe.zrem(PROCESSES_KEY, self.process_id)
                    continue
                if op == "hset":
                    pipe.hset(key, name, body)
                    pipe.expire(key, int(self.heartbeat * 3))
                else:
                    pipe.hdel(key, name)
                sign = "+" if op == "hset" else "-"
                pipe.publish(CENSUS_CHANNEL, f"{self.process_id}\n{sign}\n{name}\n{body}")
            try:
                await pipe.execute()
            except BaseException:
                # Some of the batch may not have gone out: everyone resyncs once Redis is back.
                self._lost_frames = True
                raise
            if not self._outbox:
                self._idle.set()

    async def _beat(self, redis: Redis) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self._publish_census(redis)
            await self._refresh(redis)

    async def _publish_census(self, redis: Redis) -> None:
        """Write this process's whole census (Redis may have restarted empty) and heartbeat."""
        key = census_key(self.process_id)
        now, _ = await redis.time()
        pipe = redis.pipeline(transaction=True)
        pipe.delete(key)
        if self.census.mine:
            fields: dict[Any, Any] = dict(
                self.census.mine
            )  # redis-py's Mapping key type is invariant
            pipe.hset(key, mapping=fields)
            pipe.expire(key, int(self.heartbeat * 3))
        pipe.zadd(PROCESSES_KEY, {self.process_id: now})
        pipe.zremrangebyscore(PROCESSES_KEY, 0, now - self.heartbeat * 3)
        await pipe.execute()

    async def _refresh(self, redis: Redis) -> None:
        """Re-read the other processes' census, dropping the dead ones'."""
        self.census.reading()
        hashes = None
        try:
            keys = [key async for key in redis.scan_iter(match=census_key("*"), count=1000)]
            others = [key for key in keys if key != census_key(self.process_id)]
            pipe = redis.pipeline(transaction=False)
            for key in others:
                pipe.hgetall(key)
            values = await pipe.execute()
            prefix = len(census_key(""))
            hashes = {key[prefix:]: got for key, got in zip(others, values, strict=True)}
        finally:
            self.census.replace(hashes)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait for them to end. A cancellation that lands inside a redis-py
    command can be absorbed there (it shields its connection's teardown), so cancel again."""
    while pending := [task for task in tasks if not task.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: the session's end is handled by the caller


async def _all_done(futures: list[asyncio.Future[None]]) -> None:
    if futures:
        await asyncio.wait(futures)
