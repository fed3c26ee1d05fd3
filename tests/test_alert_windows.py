"""Alert throttling per site, against a migrated database without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnichat.chat import alert_windows
from omnichat.chat.alert_windows import Owed
from omnichat.storage.db import Database

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SITE = 1  # the bootstrap site


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_one_alert_per_interval_and_one_summary_for_the_rest(database: Database) -> None:
    """The first alert goes out, the next ones within the interval are counted, the summary is
    due when the interval ends and is taken once; it starts the next interval."""

    async def claim(kind: alert_windows.Kind, seconds: float) -> bool:
        return await database.write(
            lambda tx: alert_windows.claim(tx, SITE, kind, at(seconds), 300)
        )

    async def settle(seconds: float) -> Owed | None:
        return await database.write(lambda tx: alert_windows.settle(tx, SITE, at(seconds)))

    assert await claim("escalated", 0) is True
    assert [await claim("followups", s) for s in (1, 2, 3)] == [False] * 3
    assert await claim("escalated", 4) is False
    assert await alert_windows.due(database, at(299)) == []
    assert await settle(299) is None
    assert await alert_windows.due(database, at(300)) == [SITE]
    owed = await settle(301)
    assert owed == Owed(escalated=1, followups=3, since="2026-01-05T12:00:00.000Z")
    assert await settle(302) is None  # taken once
    assert await claim("followups", 400) is False  # within the interval the summary started
    assert await alert_windows.due(database, at(600)) == []
    assert await alert_windows.due(database, at(601)) == [SITE]
    assert await claim("followups", 602) is False  # counted into the summary still owed
    owed = await settle(603)
    assert owed is not None and owed.followups == 2
    assert await claim("escalated", 902) is False
    assert await settle(904) is not None
    assert await claim("escalated", 1300) is True  # a quiet interval: at once again


async def test_no_interval_means_every_alert_goes_out(database: Database) -> None:
    """With min_interval_seconds 0 nothing is held back and nothing is stored."""
    for seconds in (0, 1, 2):
        assert await database.write(
            lambda tx, s=seconds: alert_windows.claim(tx, SITE, "followups", at(s), 0)
        )
    assert await database.fetch_value("SELECT COUNT(*) FROM alert_windows") == 0


def test_summary_text_says_how_many() -> None:
    """The summary counts follow-ups and waiting visitors, in the singular or plural."""
    since = "2026-01-05T12:00:00.000Z"
    assert (
        alert_windows.summary_text("Shop", Owed(0, 3, since))
        == "Shop: 3 new follow-ups since the last alert."
    )
    assert alert_windows.summary_text("Shop", Owed(1, 1, since)) == (
        "Shop: 1 new follow-up and 1 more visitor waiting with no answer since the last alert."
    )
    assert "2 more visitors waiting" in alert_windows.summary_text("Shop", Owed(2, 0, since))
