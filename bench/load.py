"""Load benchmark: visitor sockets sending at a fixed offered rate, agents listening.

Open loop: sends are scheduled at fixed times and never wait for replies, so a slow server shows
up as latency rather than as a lower offered rate. It measures visitor-send -> agent-receive
latency (the `message.created` event on /ws/agent), ack latency, achieved rate, errors, and the
server's RSS and CPU. Each run starts its own server (limits off) on a free loopback port.

    python bench/load.py --visitors 1000 --agents 2 --rate 1000 --seconds 20
    python bench/load.py --idle 5000            # idle sockets: RSS and KB per socket
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
EMAIL, PASSWORD = "bench@example.com", "bench-password-123"


def start_server(data_dir: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    """A server on `port` with the abuse limits off (and `extra` settings), once it is ready."""
    env = {
        **os.environ,
        "OMNICHAT_STORAGE_DATA_DIR": str(data_dir),
        "OMNICHAT_SERVER_PORT": str(port),
        "OMNICHAT_SERVER_LOG_LEVEL": "warning",
        "OMNICHAT_BOOTSTRAP_EMAIL": EMAIL,
        "OMNICHAT_BOOTSTRAP_PASSWORD": PASSWORD,
        "OMNICHAT_LIMITS_SOCKETS_PER_IP": "0",
        "OMNICHAT_LIMITS_SESSIONS_PER_MINUTE_PER_IP": "0",
        "OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR": "0",
        "OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_IP": "0",
        "OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP": "0",
        **extra,
    }
    process = subprocess.Popen(
        [sys.executable, "run.py", "serve"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
    )
    for _ in range(400):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return process
        time.sleep(0.05)
    raise SystemExit("server did not become ready")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Usage:
    """RSS and CPU seconds of a process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sessions(base: str, site_key: str, count: int) -> list[str]:
    tokens: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for start in range(0, count, 100):
            batch = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/widget/session", json={"site_key": site_key, "token": None}
                    )
                    for _ in range(min(100, count - start))
                )
            )
            tokens.extend(response.json()["token"] for response in batch)
    return tokens


async def open_visitor(ws_base: str, token: str) -> ClientConnection:
    ws = await connect(f"{ws_base}/ws/visitor", compression=None, max_queue=None)
    await ws.send(orjson.dumps({"type": "hello", "token": token, "last_seq": 0}).decode())
    await ws.recv()
    return ws


async def open_agent(base: str, ws_base: str) -> ClientConnection:
    async with httpx.AsyncClient(base_url=base) as client:
        login = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        login.raise_for_status()
    ws = await connect(f"{ws_base}/ws/agent", compression=None, max_queue=None)
    hello = {"type": "hello", "token": login.json()["access_token"], "last_event_id": None}
    await ws.send(orjson.dumps(hello).decode())
    await ws.recv()
    return ws


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def run_load(
    args: argparse.Namespace, base: str, ws_base: str, site_key: str, usage: Usage
) -> None:
    tokens = await sessions(base, site_key, args.visitors)
    visitors = [await open_visitor(ws_base, token) for token in tokens]
    agents = [await open_agent(base, ws_base) for _ in range(args.agents)]
    sent_at: dict[str, float] = {}
    ack_latency: list[float] = []
    agent_latency: list[float] = []
    errors = 0

    async def read_visitor(ws: ClientConnection) -> None:
        nonlocal errors
        with contextlib.suppress(Exception):
            async for raw in ws:
                frame = orjson.loads(raw)
                if frame["type"] == "ack":
                    ack_latency.append(time.perf_counter() - sent_at[frame["client_id"]])
                elif frame["type"] == "error":
                    errors += 1

    async def read_agent(ws: ClientConnection, record: bool) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                frame = orjson.loads(raw)
                if record and frame.get("event") == "message.created":
                    client_id = frame["data"]["message"]["client_id"]
                    if client_id in sent_at:
                        agent_latency.append(time.perf_counter() - sent_at[client_id])

    readers = [asyncio.create_task(read_visitor(ws)) for ws in visitors]
    readers += [asyncio.create_task(read_agent(ws, i == 0)) for i, ws in enumerate(agents)]
    total = int(args.rate * args.seconds)
    cpu_before, wall_before = usage.cpu_seconds(), time.perf_counter()
    started = time.perf_counter()
    for n in range(total):
        due = started + n / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        client_id = f"b{n}"
        sent_at[client_id] = time.perf_counter()
        try:
            await visitors[n % len(visitors)].send(
                orjson.dumps(
                    {"type": "message", "client_id": client_id, "text": f"load {n}"}
                ).decode()
            )
        except Exception:
            errors += 1
    send_seconds = time.perf_counter() - started
    deadline = time.perf_counter() + 10
    while len(ack_latency) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    cpu = (usage.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
    for task in readers:
        task.cancel()
    for ws in [*visitors, *agents]:
        await ws.close()
    ms = 1000
    print(
        f"visitors={args.visitors} agents={args.agents} offered={args.rate}/s for {args.seconds}s"
    )
    print(f"sent={total} in {send_seconds:.1f}s acked={len(ack_latency)} errors={errors}")
    print(f"achieved rate (acks/s while sending) = {len(ack_latency) / send_seconds:.0f}")
    print(
        "ack latency ms: p50={:.1f} p99={:.1f} max={:.1f}".format(
            percentile(ack_latency, 0.5) * ms,
            percentile(ack_latency, 0.99) * ms,
            max(ack_latency, default=float("nan")) * ms,
        )
    )
    p50, p99 = percentile(agent_latency, 0.5) * ms, percentile(agent_latency, 0.99) * ms
    worst = max(agent_latency, default=float("nan")) * ms
    print(
        f"visitor->agent latency ms: p50={p50:.1f} p99={p99:.1f} max={worst:.1f}"
        f" (n={len(agent_latency)})"
    )
    print(f"server RSS={usage.rss_mb():.0f} MB, server CPU={cpu * 100:.0f}% of one core")
    if ack_latency:
        print(f"ack latency mean={statistics.mean(ack_latency) * ms:.1f} ms")


async def run_idle(
    args: argparse.Namespace, base: str, ws_base: str, site_key: str, usage: Usage
) -> None:
    tokens = await sessions(base, site_key, args.idle)
    before = usage.rss_mb()
    sockets = []
    for start in range(0, len(tokens), 200):
        sockets += await asyncio.gather(
            *(open_visitor(ws_base, t) for t in tokens[start : start + 200])
        )
    await asyncio.sleep(2)
    after = usage.rss_mb()
    print(f"idle visitor sockets={len(sockets)}")
    print(f"server RSS before={before:.0f} MB after={after:.0f} MB")
    print(f"per socket = {(after - before) * 1024 / len(sockets):.1f} KB")
    for ws in sockets:
        await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1000, help="offered messages per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle", type=int, default=0, help="only open this many idle sockets")
    args = parser.parse_args()
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(Path(tmp) / "data", port)
        try:
            with contextlib.closing(sqlite3.connect(Path(tmp) / "data" / "omnichat.sqlite")) as db:
                site_key = db.execute("SELECT site_key FROM sites").fetchone()[0]
            base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
            runner = run_idle if args.idle else run_load
            asyncio.run(runner(args, base, ws_base, site_key, Usage(server.pid)))
        finally:
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    main()
