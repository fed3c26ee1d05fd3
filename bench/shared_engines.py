"""PostgreSQL and Redis for bench/load.py --postgresql: throwaway ones from tests/engines.py (or
the URLs of running ones), and their CPU seconds from /proc, so CPU per message counts the work
the engines do for Omnichat too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engines import PostgresServer, RedisServer, pg_bin  # noqa: E402


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: index 0 is field 3 (state) of proc(5)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """`root` and every live process whose parent chain leads to it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int(stat_fields(int(entry.name))[1])
    found = []
    for pid in parents:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            found.append(pid)
    return found


def tree_cpu_seconds(root: int) -> float:
    """User+system seconds of `root`'s live process tree, plus the children `root` has reaped
    (a PostgreSQL backend that exits mid-window moves its time to the postmaster's cutime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in descendants(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat_fields(pid)
            total += int(fields[11]) + int(fields[12])
            if pid == root:
                total += int(fields[13]) + int(fields[14])
    return total / ticks


@dataclass
class Engines:
    """The database and hub URLs the servers share, and how to read each engine's CPU (only
    for engines started here: a running one's processes may not be ours to see)."""

    database_url: str
    redis_url: str
    cpu: dict[str, Callable[[], float]] = field(default_factory=dict)

    def cpu_seconds(self) -> dict[str, float]:
        return {name: read() for name, read in self.cpu.items()}


def postmaster_pid(server: PostgresServer) -> int:
    return int((server.directory / "pgdata" / "postmaster.pid").read_text().split()[0])


@contextlib.contextmanager
def engines(database_url: str, redis_url: str, durable: bool) -> Iterator[Engines]:
    """The given engines (both URLs), or throwaway ones (PostgreSQL with fsync off unless
    `durable`)."""
    if database_url:
        yield Engines(database_url, redis_url)
        return
    postgres = PostgresServer(durable=durable).start()
    redis = RedisServer(Path(tempfile.mkdtemp(prefix="omnichat-redis-"))).start()
    try:
        postmaster = postmaster_pid(postgres)
        assert redis.process is not None
        redis_pid = redis.process.pid
        yield Engines(
            postgres.new_database(),
            redis.url(),
            {
                "postgresql": lambda: tree_cpu_seconds(postmaster),
                "redis": lambda: tree_cpu_seconds(redis_pid),
            },
        )
    finally:
        redis.stop()
        postgres.stop()


def site_key(database_url: str) -> str:
    """The bootstrapped site's key, read with psql."""
    found = subprocess.run(
        [pg_bin("psql"), database_url, "-At", "-c", "SELECT site_key FROM sites ORDER BY id"],
        check=True,
        capture_output=True,
        text=True,
    )
    return found.stdout.split()[0]
