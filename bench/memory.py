"""Where an idle visitor socket's memory goes: the server under tracemalloc, N sockets opened.

The server runs with tracemalloc on (a wrapper around `run.py serve`, so nothing in omnichat
changes); a snapshot is taken after the sessions are made and another with N idle sockets open,
and the difference is printed per socket, by file and by line. tracemalloc slows the server and
adds its own overhead to RSS, so take RSS per socket from `load.py --idle`; the traced bytes are
what Python allocated (nearly all of it: 34 of 36 KB per socket when this was written).

    python bench/memory.py --sockets 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load

# Runs in the server process: SIGUSR1 takes a snapshot; the second one writes the comparison.
TRACED = """
import gc, os, signal, sys, tracemalloc
tracemalloc.start()
snapshots = []

def snapshot(signum, frame):
    gc.collect()
    snapshots.append(tracemalloc.take_snapshot())
    if len(snapshots) == 2:
        with open(os.environ["TRACE_OUT"], "w") as out:
            for key in ("filename", "lineno"):
                for stat in snapshots[1].compare_to(snapshots[0], key)[:60]:
                    out.write(f"{key} {stat.size_diff} {stat.count_diff} {stat.traceback}\\n")
        open(os.environ["TRACE_OUT"] + ".done", "w").close()

signal.signal(signal.SIGUSR1, snapshot)
sys.argv = ["run.py", "serve"]
from omnichat.cli import main
raise SystemExit(main())
"""


def short(path: str) -> str:
    for marker in ("site-packages/", "python3.11/", "python3.12/", str(load.ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def source(location: str) -> str:
    path, _, line = location.rpartition(":")
    with contextlib.suppress(OSError, ValueError, IndexError):
        return Path(path).read_text().splitlines()[int(line) - 1].strip()[:70]
    return ""


async def drive(port: int, site_key: str, count: int, pid: int, done: Path) -> tuple[float, float]:
    usage = load.Usage(pid)
    tokens = await load.sessions(f"http://127.0.0.1:{port}", site_key, count)
    await asyncio.sleep(1)
    os.kill(pid, signal.SIGUSR1)
    await asyncio.sleep(3)
    before = usage.rss_mb()
    sockets = []
    for start in range(0, count, 200):
        sockets += await asyncio.gather(
            *(load.open_visitor(f"ws://127.0.0.1:{port}", t) for t in tokens[start : start + 200])
        )
    await asyncio.sleep(3)
    after = usage.rss_mb()
    os.kill(pid, signal.SIGUSR1)
    while not done.exists():
        await asyncio.sleep(0.5)
    await load.close_all(sockets)
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    limit = load.resource.getrlimit(load.resource.RLIMIT_NOFILE)[1]
    load.resource.setrlimit(load.resource.RLIMIT_NOFILE, (limit, limit))
    with tempfile.TemporaryDirectory() as tmp:
        data, out, port = Path(tmp) / "data", Path(tmp) / "trace.txt", load.free_port()
        env = {
            **os.environ,
            "OMNICHAT_STORAGE_DATA_DIR": str(data),
            "OMNICHAT_SERVER_PORT": str(port),
            "OMNICHAT_SERVER_LOG_LEVEL": "error",
            "OMNICHAT_BOOTSTRAP_EMAIL": load.EMAIL,
            "OMNICHAT_BOOTSTRAP_PASSWORD": load.PASSWORD,
            "OMNICHAT_LIMITS_SOCKETS_PER_IP": "0",
            "OMNICHAT_LIMITS_SESSIONS_PER_MINUTE_PER_IP": "0",
            "TRACE_OUT": str(out),
        }
        server = subprocess.Popen(
            [sys.executable, "-c", TRACED], cwd=load.ROOT, env=env, stderr=subprocess.DEVNULL
        )
        try:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                        break
                time.sleep(0.05)
            with contextlib.closing(sqlite3.connect(data / "omnichat.sqlite")) as db:
                site_key = db.execute("SELECT site_key FROM sites").fetchone()[0]
            done = Path(str(out) + ".done")
            before, after = asyncio.run(drive(port, site_key, args.sockets, server.pid, done))
        finally:
            server.terminate()
            server.wait(30)
        n = args.sockets
        rows = [line.split(" ", 3) for line in out.read_text().splitlines()]
        traced = sum(int(size) for key, size, _, _ in rows if key == "filename")
        print(f"{n} idle sockets; RSS {before:.0f} -> {after:.0f} MB under tracemalloc")
        print(f"traced Python allocations: {traced / n / 1024:.1f} KB per socket")
        for kind in ("filename", "lineno"):
            print(f"\nper socket, by {kind}:")
            for _, size, count, where in [r for r in rows if r[0] == kind][: args.top]:
                text = f"  | {source(where)}" if kind == "lineno" else ""
                print(f"  {int(size) / n:7.0f} B {int(count) / n:5.1f} objs  {short(where)}{text}")


if __name__ == "__main__":
    main()
