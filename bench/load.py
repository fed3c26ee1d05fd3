"""Load benchmark: visitor sockets sending messages, agents listening, the server's CPU and RSS.

Each run starts its own server (limits off) on a free loopback port, makes the visitors'
sessions and opens every socket before the measured window starts.

Closed loop (--closed): each visitor sends its next message as soon as it has the ack of the
previous one; one agent socket listens. Reports messages delivered (acked, and received by the
agent as `message.created`), throughput, and the server's CPU per delivered message: user+system
seconds of the server process from /proc over the measured window, divided by the messages.

Open loop (default): sends are scheduled at fixed times, round-robin over the visitor sockets,
and never wait for replies, so a slow server shows up as latency rather than as a lower offered
rate. Reports sent/acked/delivered counts, ack latency (send -> the sender's ack) and agent
latency (send -> `message.created` on /ws/agent), the achieved rate, and CPU per message.

Idle (--idle N): N visitor sockets (hello and welcome done) held open; the server's RSS before
and after, and KB per socket.

--client websockets (default) connects with the websockets library's defaults, as an outside
user would; --client lean turns off compression negotiation and the receive queue limit.
--profile PATH records the server with py-spy over the measured window (raw collapsed stacks
with thread ids, --native for C frames too; summarise them with bench/profile.py), and --perf
PATH with `perf record -e cpu-clock -g` (on-CPU time only, by thread, library and C symbol);
--syscalls counts the server's system calls per message and thread (perf stat).

--postgresql runs on PostgreSQL + Redis (throwaway ones from tests/engines.py, fsync off unless
--pg-fsync, or running ones from --database-url and --redis-url) and --processes N starts N
servers sharing them and one secret key: visitors round-robin over the servers, the agents on
the first, so (N-1)/N of the messages reach the agents through Redis. Server CPU is then the
sum over the N servers, and for throwaway engines the report adds PostgreSQL's CPU (the
postmaster's process tree) and Redis's per message, and the total.

    python bench/load.py --closed                       # 50 visitors x 100 messages, 1 agent
    python bench/load.py --visitors 500 --agents 1 --rate 1000 --seconds 20
    python bench/load.py --idle 10000                   # idle sockets: RSS and KB per socket
    python bench/load.py --closed --messages 600 --profile /tmp/closed.raw
    python bench/load.py --closed --postgresql --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from shared_engines import Engines, engines, site_key
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
EMAIL, PASSWORD = "bench@example.com", "bench-password-123"
# Options passed to websockets' connect(): the library's defaults (what an outsider measures),
# or without per-message-deflate negotiation and the 16-frame receive queue.
CLIENTS: dict[str, dict[str, Any]] = {
    "websockets": {},
    "lean": {"compression": None, "max_queue": None},
}
MS, US = 1000, 1_000_000
# Counted per thread with --syscalls (perf stat on the syscall tracepoints).
SYSCALLS = [
    "read",
    "write",
    "writev",
    "sendto",
    "sendmsg",
    "recvfrom",
    "recvmsg",
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "futex",
    "fdatasync",
    "fsync",
    "pwrite64",
    "pread64",
    "fcntl",
    "newfstatat",
    "getpid",
    "mmap",
    "munmap",
    "madvise",
    "brk",
    "ioctl",
    "lseek",
    "openat",
    "close",
]


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
        """User+system seconds of every thread of the process, from /proc/PID/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def thread_cpu_seconds(self) -> dict[str, float]:
        """User+system seconds of each live thread, by thread id."""
        ticks = os.sysconf("SC_CLK_TCK")
        seconds: dict[str, float] = {}
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                seconds[task.name] = (int(fields[11]) + int(fields[12])) / ticks
        return seconds

    def run_delay_seconds(self) -> tuple[float, float]:
        """Seconds the event-loop thread, and all live threads together, spent runnable but
        waiting for a CPU (schedstat): on a shared machine, latency that is other work's."""
        main = total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                delay = int((task / "schedstat").read_text().split()[1])
                total += delay
                if task.name == str(self.pid):
                    main = delay
        return main / 1e9, total / 1e9


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_probe_us() -> float:
    """Microseconds for `sum(range(1000))` here, best of five: how fast a core is just now
    (slower when the other cores, or SMT siblings, are busy), to compare runs on a shared box."""
    import timeit

    return min(timeit.repeat("sum(range(1000))", number=200, repeat=5)) / 200 * US


@dataclass
class Servers:
    """The Omnichat server processes under load (visitors spread over them, agents on the
    first), and with --postgresql the engines they share."""

    bases: list[str]
    usages: list[Usage]
    site_key: str
    engines: Engines | None = None

    def cpu_seconds(self) -> float:
        return sum(usage.cpu_seconds() for usage in self.usages)

    def rss_mb(self) -> float:
        return sum(usage.rss_mb() for usage in self.usages)

    def run_delay_seconds(self) -> tuple[float, float]:
        delays = [usage.run_delay_seconds() for usage in self.usages]
        return sum(main for main, _ in delays), sum(total for _, total in delays)

    def engine_cpu_seconds(self) -> dict[str, float]:
        return self.engines.cpu_seconds() if self.engines else {}


class Window:
    """The measured window: wall time, the servers' CPU (and the engines'), the load
    generator's own CPU, and optionally a py-spy recording of the first server."""

    def __init__(self, servers: Servers, args: argparse.Namespace) -> None:
        self.servers = servers
        self.usage = servers.usages[0]
        self.args = args
        self.profilers: list[subprocess.Popen[bytes]] = []

    async def start(self) -> None:
        args, pid = self.args, str(self.usage.pid)
        if args.profile:
            command = ["py-spy", "record", "--pid", pid, "--threads", "--format", "raw"]
            command += ["--rate", str(args.profile_rate), "--output", args.profile]
            command += ["--native"] if args.native else []
            command += ["--nonblocking"] if args.nonblocking else []
            self.profilers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        if args.perf:
            command = ["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "--pid", pid]
            self.profilers.append(subprocess.Popen([*command, "-o", args.perf]))
        if args.syscalls:
            events = ",".join(f"syscalls:sys_enter_{name}" for name in SYSCALLS)
            self.syscall_counts = tempfile.NamedTemporaryFile(suffix=".perfstat")  # noqa: SIM115
            command = ["perf", "stat", "-e", events, "--per-thread", "-x", ",", "--pid", pid]
            self.profilers.append(subprocess.Popen([*command, "-o", self.syscall_counts.name]))
        if self.profilers:
            await asyncio.sleep(1.5)  # attached and sampling before the window opens
        self.load_before = loadavg()
        self.probe = cpu_probe_us()
        self.cpu = self.servers.cpu_seconds()
        self.engine_cpu = self.servers.engine_cpu_seconds()
        self.threads = [usage.thread_cpu_seconds() for usage in self.servers.usages]
        self.delay = self.servers.run_delay_seconds()
        self.own = own_cpu_seconds()
        self.wall = time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = self.servers.cpu_seconds() - self.cpu
        self.engine_cpu = {
            name: spent - self.engine_cpu[name]
            for name, spent in self.servers.engine_cpu_seconds().items()
        }
        self.threads = [
            {tid: spent - before.get(tid, 0.0) for tid, spent in usage.thread_cpu_seconds().items()}
            for usage, before in zip(self.servers.usages, self.threads, strict=True)
        ]
        main, total = self.servers.run_delay_seconds()
        self.delay = (main - self.delay[0], total - self.delay[1])
        self.own = own_cpu_seconds() - self.own
        self.load_after = loadavg()
        for profiler in self.profilers:
            profiler.send_signal(signal.SIGINT)
        for profiler in self.profilers:
            profiler.wait(120)

    def report(self, messages: int) -> None:
        per = max(messages, 1)
        processes = len(self.servers.usages)
        print(
            f"window {self.wall:.2f}s: server CPU {self.cpu:.2f}s"
            + (f" (sum over {processes} processes)" if processes > 1 else "")
            + f" ({self.cpu / self.wall * 100:.0f}% of one core),"
            f" load generator CPU {self.own:.2f}s ({self.own / self.wall * 100:.0f}%)"
        )
        print(
            f"server CPU per delivered message = {self.cpu / per * US:.0f} us"
            f" (load generator {self.own / per * US:.0f} us/msg)"
        )
        for n, (usage, threads) in enumerate(zip(self.servers.usages, self.threads, strict=True)):
            label = f"  server {n + 1} by thread: " if processes > 1 else "  by thread: "
            print(label + threads_line(str(usage.pid), threads, per))
        if self.engine_cpu:
            self.report_engines(per)
        main, total = self.delay
        print(f"server RSS={self.servers.rss_mb():.0f} MB")
        print(
            f"waiting for a CPU (run queue): event-loop thread {main:.2f}s"
            f" ({main / self.wall * 100:.0f}% of the window), all threads {total:.2f}s"
        )
        print(
            f"loadavg before={self.load_before} after={self.load_after};"
            f" cpu probe sum(range(1000)) = {self.probe:.1f} us before, {cpu_probe_us():.1f} after"
        )
        if self.args.profile:
            print(f"py-spy profile (raw, with thread ids) written to {self.args.profile}")
        if self.args.perf:
            print(f"perf record (cpu-clock, call graphs) written to {self.args.perf}")
        if self.args.syscalls:
            self.report_syscalls(per)

    def report_engines(self, messages: int) -> None:
        """The engines' CPU per message, and everything's: servers plus engines."""
        engines = sum(self.engine_cpu.values())
        print(
            "engines CPU per delivered message: "
            + ", ".join(
                f"{name} {spent / messages * US:.0f} us" for name, spent in self.engine_cpu.items()
            )
            + f" ({engines / self.wall * 100:.0f}% of one core)"
        )
        total = self.cpu + engines
        print(
            f"total CPU per delivered message (servers + engines) = {total / messages * US:.0f} us"
            f" ({total / self.wall * 100:.0f}% of one core)"
        )

    def report_syscalls(self, messages: int) -> None:
        """System calls per message, per server thread (the writer is the one with fdatasync)."""
        counts: dict[str, dict[str, int]] = {}
        for line in Path(self.syscall_counts.name).read_text().splitlines():
            fields = line.split(",")
            if len(fields) < 4 or not fields[1].isdigit():
                continue
            thread = fields[0].rsplit("-", 1)[1]
            call = fields[3].removeprefix("syscalls:sys_enter_")
            counts.setdefault(thread, {})[call] = int(fields[1])
        print("system calls per message, by server thread:")
        for thread, by_call in sorted(counts.items(), key=lambda item: -sum(item[1].values())):
            total = sum(by_call.values())
            if total < messages / 100:
                continue
            name = "event loop" if thread == str(self.usage.pid) else f"thread {thread}"
            calls = sorted(by_call.items(), key=lambda item: -item[1])
            listed = " ".join(f"{call}={n / messages:.2f}" for call, n in calls if n)
            print(f"  {name}: {total / messages:.2f} in all: {listed}")


def threads_line(main_tid: str, threads: dict[str, float], messages: int) -> str:
    """One server's CPU per message by thread, busiest first."""
    others = sorted((t for t in threads.items() if t[0] != main_tid), key=lambda t: -t[1])
    names = {main_tid: "event loop"} | {tid: f"thread {tid}" for tid, _ in others}
    if others:
        names[others[0][0]] = f"writer (busiest other thread, {others[0][0]})"
    return ", ".join(
        f"{names[tid]} {spent / messages * US:.0f} us/msg"
        for tid, spent in sorted(threads.items(), key=lambda t: -t[1])
        if spent >= 0.01
    )


async def sessions(base: str, site_key: str, count: int) -> list[str]:
    tokens: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
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


async def open_visitor(ws_base: str, token: str, client: str = "websockets") -> ClientConnection:
    ws = await connect(f"{ws_base}/ws/visitor", **CLIENTS[client])
    await ws.send(orjson.dumps({"type": "hello", "token": token, "last_seq": 0}).decode())
    await ws.recv()
    return ws


async def open_agent(base: str, ws_base: str, client: str = "websockets") -> ClientConnection:
    async with httpx.AsyncClient(base_url=base) as http:
        login = await http.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        login.raise_for_status()
    ws = await connect(f"{ws_base}/ws/agent", **CLIENTS[client])
    hello = {"type": "hello", "token": login.json()["access_token"], "last_event_id": None}
    await ws.send(orjson.dumps(hello).decode())
    await ws.recv()
    return ws


def ws_url(base: str) -> str:
    return "ws" + base.removeprefix("http")


async def open_visitors(
    servers: Servers, tokens: list[str], client: str, batch: int
) -> list[ClientConnection]:
    """A socket per session, round-robin over the servers."""
    wss = [ws_url(base) for base in servers.bases]
    visitors: list[ClientConnection] = []
    for start in range(0, len(tokens), batch):
        visitors += await asyncio.gather(
            *(
                open_visitor(wss[n % len(wss)], tokens[n], client)
                for n in range(start, min(start + batch, len(tokens)))
            )
        )
    return visitors


async def open_sockets(
    args: argparse.Namespace, servers: Servers
) -> tuple[list[ClientConnection], list[ClientConnection]]:
    """Visitors spread over the servers and the agents on the first, so that with several
    processes most messages reach the agents through Redis."""
    base = servers.bases[0]
    tokens = await sessions(base, servers.site_key, args.visitors)
    visitors = await open_visitors(servers, tokens, args.client, 100)
    agents = [await open_agent(base, ws_url(base), args.client) for _ in range(args.agents)]
    return visitors, agents


async def wind_down(
    tracker: Tracker,
    window: Window,
    readers: list[asyncio.Task[None]],
    sockets: list[ClientConnection],
    wait_seconds: float,
) -> tuple[int, int]:
    """Wait for outstanding answers, close the measured window, stop reading and close every
    socket; returns how many messages were acked and delivered to the agent."""
    await tracker.wait(wait_seconds)
    window.stop()
    for task in readers:
        task.cancel()
    await close_all(sockets)
    return len(tracker.ack_latency), len(tracker.agent_latency)


async def close_all(sockets: list[ClientConnection]) -> None:
    for start in range(0, len(sockets), 500):
        await asyncio.gather(
            *(ws.close() for ws in sockets[start : start + 500]), return_exceptions=True
        )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def latency_line(name: str, values: list[float]) -> str:
    return "{} latency ms: p50={:.1f} p99={:.1f} max={:.1f} mean={:.1f} (n={})".format(
        name,
        percentile(values, 0.5) * MS,
        percentile(values, 0.99) * MS,
        max(values, default=float("nan")) * MS,
        (statistics.mean(values) if values else float("nan")) * MS,
        len(values),
    )


class Tracker:
    """Send times by client id, and the acks and agent deliveries seen for them."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.sent_at: dict[str, float] = {}
        self.ack_latency: list[float] = []
        self.agent_latency: list[float] = []
        self.errors = 0
        self.done = asyncio.Event()

    def sent(self, client_id: str) -> None:
        self.sent_at[client_id] = time.perf_counter()

    def acked(self, client_id: str) -> None:
        sent = self.sent_at.get(client_id)
        if sent is not None:
            self.ack_latency.append(time.perf_counter() - sent)
            self._check()

    def delivered(self, client_id: str | None) -> None:
        sent = self.sent_at.get(client_id) if client_id else None
        if sent is not None:
            self.agent_latency.append(time.perf_counter() - sent)
            self._check()

    def _check(self) -> None:
        done = self.expected
        if len(self.ack_latency) >= done and len(self.agent_latency) >= done:
            self.done.set()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), seconds)


async def read_agent(ws: ClientConnection, tracking: list[Tracker], record: bool) -> None:
    """Count `message.created` events for the current tracker (`tracking[0]`)."""
    with contextlib.suppress(Exception):
        async for raw in ws:
            if not record:
                continue
            frame = orjson.loads(raw)
            if frame.get("event") == "message.created":
                tracking[0].delivered(frame["data"]["message"]["client_id"])


async def closed_visitor(ws: ClientConnection, tracker: Tracker, prefix: str, count: int) -> None:
    """Send `count` messages, each as soon as the previous one is acked."""
    for n in range(count):
        client_id = f"{prefix}-{n}"
        tracker.sent(client_id)
        await ws.send(
            orjson.dumps({"type": "message", "client_id": client_id, "text": f"load {n}"}).decode()
        )
        while True:
            frame = orjson.loads(await ws.recv())
            if frame["type"] == "ack" and frame["client_id"] == client_id:
                tracker.acked(client_id)
                break
            if frame["type"] == "error":
                tracker.errors += 1
                break


async def run_closed(args: argparse.Namespace, servers: Servers) -> None:
    visitors, agents = await open_sockets(args, servers)
    tracking = [Tracker(len(visitors) * args.warmup)]
    readers = [asyncio.create_task(read_agent(ws, tracking, i == 0)) for i, ws in enumerate(agents)]
    if args.warmup:
        # Each visitor's first message opens its conversation (and stores the greeting).
        warm = tracking[0]
        await asyncio.gather(
            *(closed_visitor(ws, warm, f"w{i}", args.warmup) for i, ws in enumerate(visitors))
        )
        await tracking[0].wait(30)
    tracker = tracking[0] = Tracker(len(visitors) * args.messages)
    window = Window(servers, args)
    await window.start()
    await asyncio.gather(
        *(closed_visitor(ws, tracker, f"c{i}", args.messages) for i, ws in enumerate(visitors))
    )
    acked, delivered = await wind_down(tracker, window, readers, [*visitors, *agents], 30)
    print(
        f"closed loop: visitors={len(visitors)} x messages={args.messages}"
        f" (warmup {args.warmup}/visitor), agents={len(agents)}, client={args.client}"
    )
    print(
        f"sent={len(tracker.sent_at)} acked={acked} delivered to agent={delivered}"
        f" errors={tracker.errors}"
    )
    print(f"throughput = {delivered / window.wall:.0f} msg/s")
    print(latency_line("ack (round trip)", tracker.ack_latency))
    print(latency_line("visitor->agent", tracker.agent_latency))
    window.report(delivered)


async def run_open(args: argparse.Namespace, servers: Servers) -> None:
    visitors, agents = await open_sockets(args, servers)
    total = int(args.rate * args.seconds)
    tracker = Tracker(total)
    tracking = [tracker]

    async def read_visitor(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                frame = orjson.loads(raw)
                if frame["type"] == "ack":
                    tracker.acked(frame["client_id"])
                elif frame["type"] == "error":
                    tracker.errors += 1

    readers = [asyncio.create_task(read_visitor(ws)) for ws in visitors]
    readers += [
        asyncio.create_task(read_agent(ws, tracking, i == 0)) for i, ws in enumerate(agents)
    ]
    window = Window(servers, args)
    await window.start()
    send_errors = 0
    started = time.perf_counter()
    for n in range(total):
        due = started + n / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        client_id = f"b{n}"
        tracker.sent(client_id)
        try:
            await visitors[n % len(visitors)].send(
                orjson.dumps(
                    {"type": "message", "client_id": client_id, "text": f"load {n}"}
                ).decode()
            )
        except Exception:
            send_errors += 1
    send_seconds = time.perf_counter() - started
    acked, delivered = await wind_down(tracker, window, readers, [*visitors, *agents], 15)
    print(
        f"open loop: visitors={len(visitors)} agents={len(agents)} offered={args.rate:g}/s"
        f" for {args.seconds:g}s, client={args.client}"
    )
    print(
        f"sent={total} in {send_seconds:.1f}s acked={acked} delivered to agent={delivered}"
        f" send errors={send_errors} error frames={tracker.errors}"
        + ("" if acked == delivered == total else "  << NOT ALL ACKED/DELIVERED")
    )
    print(f"achieved rate (acks/s while sending) = {acked / send_seconds:.0f}")
    print(latency_line("ack", tracker.ack_latency))
    print(latency_line("visitor->agent", tracker.agent_latency))
    window.report(delivered)


async def run_idle(args: argparse.Namespace, servers: Servers) -> None:
    tokens = await sessions(servers.bases[0], servers.site_key, args.idle)
    await asyncio.sleep(1)
    before = servers.rss_mb()
    started = time.perf_counter()
    sockets = await open_visitors(servers, tokens, args.client, 200)
    opened = time.perf_counter() - started
    await asyncio.sleep(3)
    after = servers.rss_mb()
    print(f"idle visitor sockets={len(sockets)} (opened in {opened:.1f}s), client={args.client}")
    print(f"server RSS before={before:.0f} MB after={after:.0f} MB")
    print(f"per socket = {(after - before) * 1024 / len(sockets):.1f} KB")
    print(f"loadavg={loadavg()}")
    await close_all(sockets)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--closed", action="store_true", help="closed loop: send on each ack")
    parser.add_argument("--visitors", type=int, help="visitor sockets (closed 50, open 1000)")
    parser.add_argument("--agents", type=int, help="agent sockets (closed 1, open 2)")
    parser.add_argument("--messages", type=int, default=100, help="closed loop: per visitor")
    parser.add_argument("--warmup", type=int, default=0, help="closed loop: unmeasured first")
    parser.add_argument("--rate", type=float, default=1000, help="offered messages per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle", type=int, default=0, help="only open this many idle sockets")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="websockets")
    parser.add_argument("--profile", help="py-spy raw output path for the measured window")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument("--native", action="store_true", help="py-spy: with C frames")
    parser.add_argument("--nonblocking", action="store_true", help="py-spy: never pause")
    parser.add_argument("--perf", help="perf record output path for the measured window")
    parser.add_argument("--syscalls", action="store_true", help="count system calls (perf stat)")
    parser.add_argument(
        "--postgresql", action="store_true", help="on PostgreSQL + Redis (throwaway unless given)"
    )
    parser.add_argument("--database-url", default="", help="--postgresql: a running PostgreSQL")
    parser.add_argument("--redis-url", default="", help="--postgresql: a running Redis")
    parser.add_argument(
        "--pg-fsync", action="store_true", help="throwaway PostgreSQL with fsync on (default off)"
    )
    parser.add_argument("--processes", type=int, default=1, help="server processes (PostgreSQL)")
    args = parser.parse_args()
    if (args.processes > 1 or args.database_url or args.redis_url) and not args.postgresql:
        parser.error("--processes N, --database-url and --redis-url need --postgresql")
    if bool(args.database_url) != bool(args.redis_url):
        parser.error("give both --database-url and --redis-url, or neither")
    if args.visitors is None:
        args.visitors = 50 if args.closed else 1000
    if args.agents is None:
        args.agents = 1 if args.closed else 2
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    with tempfile.TemporaryDirectory() as tmp, shared(args) as shared_engines:
        started: list[subprocess.Popen[bytes]] = []
        try:
            servers = start_servers(Path(tmp), args.processes, shared_engines, started)
            runner = run_idle if args.idle else run_closed if args.closed else run_open
            pids = ",".join(str(usage.pid) for usage in servers.usages)
            print(f"server pid={pids} loadavg={loadavg()}")
            if shared_engines:
                fsync = "external" if args.database_url else "on" if args.pg_fsync else "off"
                print(f"on PostgreSQL (fsync {fsync}) + Redis, {args.processes} process(es)")
            asyncio.run(runner(args, servers))
        finally:
            for server in started:
                server.terminate()
            for server in started:
                server.wait(20)


def shared(args: argparse.Namespace) -> contextlib.AbstractContextManager[Engines | None]:
    if not args.postgresql:
        return contextlib.nullcontext()
    return engines(args.database_url, args.redis_url, durable=args.pg_fsync)


def start_servers(
    tmp: Path, count: int, shared: Engines | None, started: list[subprocess.Popen[bytes]]
) -> Servers:
    """`count` servers (one after another: the first migrates and bootstraps), each with its
    own data dir; several share the engines and one secret key."""
    extra = {}
    if shared:
        extra = {
            "OMNICHAT_STORAGE_DATABASE_URL": shared.database_url,
            "OMNICHAT_HUB_REDIS_URL": shared.redis_url,
            "OMNICHAT_SECURITY_SECRET_KEY": secrets.token_urlsafe(32),
        }
    bases = []
    for n in range(count):
        port = free_port()
        started.append(start_server(tmp / ("data" if n == 0 else f"data{n}"), port, **extra))
        bases.append(f"http://127.0.0.1:{port}")
    if shared:
        key = site_key(shared.database_url)
    else:
        with contextlib.closing(sqlite3.connect(tmp / "data" / "omnichat.sqlite")) as db:
            key = db.execute("SELECT site_key FROM sites").fetchone()[0]
    return Servers(bases, [Usage(server.pid) for server in started], key, shared)


if __name__ == "__main__":
    main()
