"""Session rows (refresh families) on a migrated database, without a server."""

from __future__ import annotations

from datetime import timedelta

from omnichat import times
from omnichat.accounts import sessions, tokens
from omnichat.storage.db import Database, Tx

DAY = 86400


async def open_session(db: Database, token: str, ttl: int = 30 * DAY) -> int:
    async def op(tx: Tx) -> int:
        return await sessions.start(
            tx,
            tenant_id=1,
            user_id=1,
            token_hash=tokens.digest(token),
            ttl_seconds=ttl,
            ip="192.0.2.1",
            user_agent="test",
        )

    return await db.write(op)


async def test_rotation_moves_the_current_token_and_remembers_the_old(database: Database) -> None:
    """After a rotation the new token finds the session as current, the old one as used."""
    session_id = await open_session(database, "first")

    async def rotate(tx: Tx) -> tuple[object, ...]:
        await sessions.rotate(
            tx, session_id, tokens.digest("first"), tokens.digest("second"), 30 * DAY, None
        )
        return (
            await sessions.by_token(tx, tokens.digest("second")),
            await sessions.by_token(tx, tokens.digest("first")),
            await sessions.by_used_token(tx, tokens.digest("first")),
        )

    current, stale, used = await database.write(rotate)
    assert isinstance(current, sessions.Session) and current.id == session_id and current.live
    assert stale is None
    assert isinstance(used, sessions.Session) and used.id == session_id


async def test_used_tokens_older_than_the_lifetime_are_forgotten(database: Database) -> None:
    """A rotation drops used tokens older than the session lifetime and keeps recent ones."""
    session_id = await open_session(database, "current")
    long_ago = times.iso(times.now() - timedelta(days=40))

    async def seed(tx: Tx) -> None:
        for name, when in (("ancient", long_ago), ("recent", times.now_iso())):
            await tx.execute(
                "INSERT INTO rotated_tokens (token_hash, session_id, rotated_at)"
                " VALUES (:hash, :session_id, :when)",
                {"hash": tokens.digest(name), "session_id": session_id, "when": when},
            )
        await sessions.rotate(
            tx, session_id, tokens.digest("current"), tokens.digest("next"), 30 * DAY, None
        )

    await database.write(seed)

    async def lookup(tx: Tx) -> list[object]:
        return [await sessions.by_used_token(tx, tokens.digest(n)) for n in ("ancient", "recent")]

    ancient, recent = await database.write(lookup)
    assert ancient is None and recent is not None


async def test_revoking_a_user_can_keep_one_session(database: Database) -> None:
    """revoke_user ends every open session but the one kept, and reports which it ended."""
    ids = [await open_session(database, f"token-{n}") for n in range(3)]

    async def revoke(tx: Tx) -> tuple[list[int], bool]:
        ended = await sessions.revoke_user(tx, 1, "test", keep=ids[0])
        again = await sessions.revoke(tx, ids[1], "twice")
        return ended, again

    ended, again = await database.write(revoke)
    assert sorted(ended) == ids[1:] and again is False

    async def states(tx: Tx) -> list[bool]:
        found = [await sessions.by_token(tx, tokens.digest(f"token-{n}")) for n in range(3)]
        return [s is not None and s.live for s in found]

    assert await database.write(states) == [True, False, False]


async def test_prune_deletes_only_long_ended_sessions(database: Database) -> None:
    """Sessions ended more than a week ago are deleted with their used tokens; others stay."""
    old = await open_session(database, "old")
    fresh = await open_session(database, "fresh")
    ended_long_ago = times.iso(times.now() - timedelta(days=8))

    async def age_and_prune(tx: Tx) -> list[object]:
        await tx.execute(
            "UPDATE sessions SET revoked_at = :when WHERE id = :id",
            {"when": ended_long_ago, "id": old},
        )
        await tx.execute(
            "INSERT INTO rotated_tokens (token_hash, session_id, rotated_at)"
            " VALUES (:hash, :id, :when)",
            {"hash": tokens.digest("older"), "id": old, "when": ended_long_ago},
        )
        await sessions.prune(tx, 1)
        return [
            await sessions.by_token(tx, tokens.digest("old")),
            await sessions.by_used_token(tx, tokens.digest("older")),
            await sessions.by_token(tx, tokens.digest("fresh")),
        ]

    gone, gone_used, kept = await database.write(age_and_prune)
    assert gone is None and gone_used is None
    assert isinstance(kept, sessions.Session) and kept.id == fresh
