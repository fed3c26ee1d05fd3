"""Scheduled work, run by APScheduler's AsyncIOScheduler inside the server's own event loop.

This is the only module that imports APScheduler. Jobs keep their state in the database, so a
restart neither repeats nor skips a step; the scheduler only says when to look.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("omnichat.jobs")


class Jobs:
    def __init__(self) -> None:
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        self._scheduler.start()

    def every(
        self,
        seconds: float,
        job: Callable[[], Awaitable[None]],
        name: str,
        first: datetime | None = None,
    ) -> None:
        """Run `job` every `seconds` (first at `first` when given, then `seconds` after each
        due time); a run still going when the next is due is not doubled."""
        assert self._scheduler is not None, "start the scheduler first"
        when = {} if first is None else {"next_run_time": first}
        self._scheduler.add_job(
            _logged(job, name),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            **when,
        )

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)


def _logged(job: Callable[[], Awaitable[None]], name: str) -> Callable[[], Awaitable[None]]:
    # A failing pass is logged and the next one runs as usual: the old escalation loop died
    # on its first exception and never ran again.
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("job failed", extra={"fields": {"job": name}})

    return run
