"""The hub without a server: fan-out, bounded queues, replay skipping, always unsubscribing."""

from __future__ import annotations

import asyncio

import pytest

from omnichat.protocol.hub import CLOSE_TOO_SLOW, Closed, Hub


async def drain(subscriber, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [await asyncio.wait_for(subscriber.next(), 1) for _ in range(count)]


async def test_publish_reaches_every_subscriber_of_the_topic_only() -> None:
    """A frame goes to each subscriber of its topic once, and to no other topic."""
    hub = Hub()
    async with (
        hub.join(("visitor", 1)) as tab1,
        hub.join(("visitor", 1)) as tab2,
        hub.join(("visitor", 2)) as other,
    ):
        hub.publish(("visitor", 1), "hello")
        assert await drain(tab1, 1) == ["hello"]
        assert await drain(tab2, 1) == ["hello"]
        assert other.pending == 0


async def test_sender_is_excluded() -> None:
    """The publishing socket is skipped (it gets its own ack instead)."""
    hub = Hub()
    async with hub.join(("visitor", 1)) as sender, hub.join(("visitor", 1)) as tab:
        hub.publish(("visitor", 1), "m", 1, exclude=sender)
        assert sender.pending == 0 and tab.pending == 1


async def test_slow_consumer_is_closed_without_slowing_others() -> None:
    """A subscriber that stops reading is closed when its queue fills; others keep going."""
    hub = Hub()
    async with hub.join(("tenant", 1), limit=3) as slow, hub.join(("tenant", 1), limit=100) as fast:
        for n in range(5):
            hub.publish(("tenant", 1), f"f{n}")
        assert await drain(fast, 5) == [f"f{n}" for n in range(5)]
        assert await drain(slow, 3) == ["f0", "f1", "f2"]
        with pytest.raises(Closed) as closed:
            await slow.next()
        assert closed.value.code == CLOSE_TOO_SLOW


async def test_skip_through_drops_replayed_frames_only() -> None:
    """Live frames the replay covered are dropped; later ones and unkeyed ones pass."""
    hub = Hub()
    async with hub.join(("visitor", 1)) as tab:
        hub.publish(("visitor", 1), "seq4", 4)
        hub.publish(("visitor", 1), "typing")
        hub.publish(("visitor", 1), "seq5", 5)
        hub.publish(("visitor", 1), "seq6", 6)
        tab.skip_through(5)
        assert await drain(tab, 2) == ["typing", "seq6"]


async def test_join_always_unsubscribes() -> None:
    """Leaving the block, even by an exception, removes the subscriber from every topic."""
    hub = Hub()
    with pytest.raises(RuntimeError):
        async with hub.join(("user", 1), ("session", 2)) as left:
            hub.publish(("user", 1), "while joined")
            assert left.pending == 1
            raise RuntimeError
    hub.publish(("user", 1), "after")
    hub.publish(("session", 2), "after")
    assert left.pending == 1


async def test_close_topic_closes_after_pending_frames() -> None:
    """Closing a topic lets queued frames out first, then raises Closed with the code."""
    hub = Hub()
    async with hub.join(("session", 9)) as socket:
        hub.publish(("session", 9), "last words")
        hub.close(("session", 9), 4401, "session revoked")
        hub.publish(("session", 9), "dropped")
        assert await drain(socket, 1) == ["last words"]
        with pytest.raises(Closed) as closed:
            await socket.next()
        assert closed.value.code == 4401
