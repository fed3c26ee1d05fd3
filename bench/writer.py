"""The writer thread alone: visitor messages through the real write path, B per transaction.

The load runs show the writer thread taking about two thirds of the server's CPU per message.
This drives `inbound.receive` (the socket handler's write) in-process against a database the
server made (its schema, a site, conversations with history), with no sockets, and reports the
writer thread's CPU per message (schedstat) and, with --statements, CPU per statement. --drop
runs SQL on the copy first, to price a trigger or index ("what if it were not there"):

    python bench/writer.py --batch 1 --batch 20 --batch 50
    python bench/writer.py --statements --drop "DROP TRIGGER messages_fts_insert"

It imports omnichat's database and inbound modules, so it follows their API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402
from omnichat.hub import Hub  # noqa: E402

from omnichat import db as database  # noqa: E402
from omnichat import inbound, sites  # noqa: E402


def make_database(target: Path, visitors: int, history: int) -> None:
    """A server-made database: `visitors` conversations with `history` messages each."""
    port = load.free_port()
    server = load.start_server(target, port)
    try:
        with contextlib.closing(sqlite3.connect(target / "omnichat.sqlite")) as db:
            site_key = db.execute("SELECT site_key FROM sites").fetchone()[0]

        async def fill() -> None:
            tokens = await load.sessions(f"http://127.0.0.1:{port}", site_key, visitors)
            sockets = [await load.open_visitor(f"ws://127.0.0.1:{port}", t) for t in tokens]
            tracker = load.Tracker(0)
            await asyncio.gather(
                *(
                    load.closed_visitor(ws, tracker, f"h{i}", history)
                    for i, ws in enumerate(sockets)
                )
            )
            await load.close_all(sockets)

        asyncio.run(fill())
    finally:
        server.terminate()
        server.wait(20)


class StatementTimes:
    """CPU seconds of the writer thread per SQL statement (first 70 characters)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def wrap(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(tx: database.Tx, sql: str, params: database.Params = None) -> Any:
            started = time.thread_time()
            result = await method(tx, sql, params)
            key = " ".join(sql.split())[:70]
            self.seconds[key] += time.thread_time() - started
            self.calls[key] += 1
            return result

        return timed


async def run(path: Path, batch: int, messages: int, synchronous: str) -> tuple[float, int]:
    """Writer-thread CPU seconds and commits for `messages` sends, `batch` at a time."""
    db = database.SQLiteDatabase(path, synchronous=synchronous)
    await db.connect()
    try:
        hub = Hub()
        site = await sites.site_by_id(db, 1)
        assert site is not None
        rows = await db.fetch_all("SELECT visitor_id FROM conversations")
        visitors = [row[0] for row in rows]
        loop = asyncio.get_running_loop()
        writer = await loop.run_in_executor(db._thread, threading.get_native_id)
        schedstat = Path(f"/proc/self/task/{writer}/schedstat")

        def cpu() -> float:
            return int(schedstat.read_text().split()[0]) / 1e9

        commits, spent = db.commits, cpu()
        for start in range(0, messages, batch):
            await asyncio.gather(
                *(
                    inbound.receive(
                        db, hub, site, visitors[n % len(visitors)], "web", f"text {n}", f"x{n}"
                    )
                    for n in range(start, start + batch)
                )
            )
        return cpu() - spent, db.commits - commits
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batch", type=int, action="append", help="messages per transaction")
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--history", type=int, default=20, help="messages per conversation")
    parser.add_argument("--synchronous", default="full")
    parser.add_argument("--drop", action="append", default=[], help="SQL to run on the copy")
    parser.add_argument("--statements", action="store_true", help="CPU per statement too")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    times = StatementTimes()
    if args.statements:
        database.Tx.execute = times.wrap(database.Tx.execute)  # type: ignore[method-assign]
        database.Tx.fetch_one = times.wrap(database.Tx.fetch_one)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / "made"
        make_database(made, args.visitors, args.history)
        for _ in range(args.repeat):
            for batch in args.batch or [20]:
                copy = Path(tmp) / f"run-{batch}.sqlite"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{copy}{suffix}").unlink(missing_ok=True)
                shutil.copy(made / "omnichat.sqlite", copy)
                with contextlib.closing(sqlite3.connect(copy)) as db:
                    for sql in args.drop:
                        db.execute(sql)
                    db.commit()
                times.seconds.clear()
                times.calls.clear()
                spent, commits = asyncio.run(run(copy, batch, args.messages, args.synchronous))
                print(
                    f"batch={batch}: {args.messages} messages, {commits} commits,"
                    f" writer thread CPU {spent / args.messages * load.US:.0f} us/msg"
                    f" (cpu probe {load.cpu_probe_us():.1f} us)"
                    + (f" drop={args.drop}" if args.drop else "")
                )
                for sql, seconds in times.seconds.most_common():
                    per = seconds / args.messages * load.US
                    calls = times.calls[sql] / args.messages
                    print(f"    {per:6.1f} us/msg  {calls:4.2f}/msg  {sql}")


if __name__ == "__main__":
    main()
