"""Summarise a py-spy raw profile of the server by thread, module, function and activity.

Record one over a load run's measured window (thread ids are needed; --native adds C frames,
which is what lets waiting be told apart from work):

    python bench/load.py --closed --messages 400 --profile /tmp/closed.raw --native
    python bench/profile.py /tmp/closed.raw --us-per-msg 400

py-spy's idle detection does not hold for this process (threads blocked on the GIL, a queue or
fdatasync are sampled as active), so with native frames a sample whose stack is in a blocking
call (futex/condition waits, epoll, fdatasync) counts as waiting and is left out; the rest is
CPU (or runnable, waiting only for a core). --us-per-msg (the server CPU per message from a run
without the profiler) turns shares into microseconds per message.

Reported for the event-loop thread and the writer thread separately: self time by module (the
innermost Python frame owns the C code it called), inclusive time by module, self and inclusive
time by function, the C libraries at the leaf, and, for the event loop, time by activity.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

FRAME = re.compile(r"^(?P<name>.*) \((?P<where>[^()]*?)(?::(?P<line>\d+))?\)$")
# In a native stack, any of these means the thread was blocked, not working.
WAITING = re.compile(
    r"pthread_cond_(timed)?wait|PyThread_acquire_lock_timed|epoll_p?wait|fdatasync|\bfsync\b"
    r"|sem_(clock|timed)?wait|__futex_abstimed_wait|do_futex_wait|\bpoll \(|\bselect \("
    r"|nanosleep|clock_nanosleep"
)
# The event loop's work, by what it was doing: the first matching rule names a sample.
ACTIVITIES = [
    ("after-commit callbacks (acks, hub.publish, frames)", r"Database\._commit_batch"),
    ("writer hand-off on the loop (queue, run_in_executor)", r"Database\.(_run_writer|write)"),
    ("handler: parse frame, limits, inbound.receive", r"omnichat/visitor_socket\.py|handle_raw"),
    ("outgoing: Subscriber.next -> send_text -> frame -> write", r"pump \(omnichat"),
    ("incoming: listen -> Starlette/uvicorn receive", r"listen \(omnichat|receive_text"),
    ("ws protocol: data_received / parse / events", r"data_received|websockets_sansio_impl"),
    ("serve(): task start/stop", r"serve \(omnichat/web/sockets"),
    ("escalation tick / jobs", r"omnichat/(escalation|jobs)\.py|apscheduler"),
    ("HTTP (h11)", r"h11|uvicorn/protocols/http"),
]


def parse_frame(text: str) -> tuple[str, str, str]:
    """(function, file or library, line) of one frame."""
    match = FRAME.match(text)
    if match is None:
        return text, "", ""
    return match["name"], match["where"], match["line"] or ""


def is_python(where: str) -> bool:
    return where.endswith(".py") or where.startswith("<")


def module(where: str) -> str:
    """A module name for a Python file (omnichat split by module), else the C library."""
    if not is_python(where):
        if "libsqlite3" in where:
            return "sqlite3 (C)"
        if "libpython" in where or where.endswith(".c") or where.endswith(".h"):
            return "python runtime (C)"
        if where.startswith("libc"):
            return "libc (syscalls, malloc)"
        if "loop.cpython" in where or where.startswith("loop."):
            return "uvloop (C)"
        return where.split(".cpython")[0].split(".so")[0] + " (C)"
    if where.startswith("<"):
        return "generated (<string>: dataclass __init__ etc.)"
    parts = where.removesuffix(".py").split("/")
    if parts[0] == "omnichat":
        return ".".join(parts)
    if parts[0] == "uvicorn" and len(parts) > 2:
        return "uvicorn." + parts[-1]
    return parts[0]


def thread_group(head: str) -> str:
    name = head.split(": ", 1)[1] if ": " in head else head
    if name == "MainThread":
        return "event loop (MainThread)"
    if name.startswith("omnichat-writer"):
        return "writer thread"
    if "_connection_worker_thread" in name:
        return "aiosqlite reader threads"
    return "other threads (" + re.sub(r"[_-]?\d+$", "", name.split(" ")[0]) + ")"


class Group:
    def __init__(self) -> None:
        self.samples = 0
        self.waiting = 0
        self.self_module: Counter[str] = Counter()
        self.incl_module: Counter[str] = Counter()
        self.self_function: Counter[str] = Counter()
        self.incl_function: Counter[str] = Counter()
        self.self_line: Counter[str] = Counter()
        self.leaf_library: Counter[str] = Counter()
        self.activity: Counter[str] = Counter()

    def add(self, frames: list[str], count: int, native: bool) -> None:
        stack = ";".join(frames)
        if native and WAITING.search(stack):
            self.waiting += count
            return
        self.samples += count
        parsed = [parse_frame(frame) for frame in frames]
        python = [(name, where, line) for name, where, line in parsed if is_python(where)]
        if python:
            name, where, line = python[-1]
            self.self_module[module(where)] += count
            self.self_function[f"{where}:{name}"] += count
            self.self_line[f"{where}:{line} {name}"] += count
        leaf = parsed[-1]
        self.leaf_library[module(leaf[1]) if not is_python(leaf[1]) else "python code"] += count
        for key in {module(where) for _, where, _ in python}:
            self.incl_module[key] += count
        for key in {f"{where}:{name}" for name, where, _ in python}:
            self.incl_function[key] += count
        for label, pattern in ACTIVITIES:
            if re.search(pattern, stack):
                self.activity[label] += count
                break
        else:
            self.activity["other (asyncio/uvloop machinery, logging, ...)"] += count


def load(paths: Iterable[Path]) -> tuple[dict[str, Group], bool]:
    groups: dict[str, Group] = {}
    lines = [line for path in paths for line in path.read_text().splitlines() if line.strip()]
    native = any(".so" in line for line in lines[:200])
    for line in lines:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        group = groups.setdefault(thread_group(frames[0]), Group())
        group.add(frames[1:], int(count), native)
    return groups, native


def table(title: str, counts: Counter[str], total: int, us: float | None, top: int) -> None:
    print(f"\n  {title}")
    for key, count in counts.most_common(top):
        share = count / total if total else 0.0
        cost = f" {share * us:7.1f} us/msg" if us is not None else ""
        print(f"    {share * 100:5.1f}%{cost}  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("raw", nargs="+", type=Path, help="py-spy --format raw output(s)")
    parser.add_argument("--us-per-msg", type=float, help="server CPU per message, unprofiled")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--lines", action="store_true", help="also self time by source line")
    args = parser.parse_args()
    groups, native = load(args.raw)
    working = sum(group.samples for group in groups.values())
    us = args.us_per_msg
    print(f"{working} working samples" + ("" if native else " (no native frames: waits included)"))
    for name, group in sorted(groups.items(), key=lambda item: -item[1].samples):
        share = group.samples / working if working else 0.0
        cost = f", {share * us:.0f} us/msg" if us is not None else ""
        waited = f" (+{group.waiting} waiting, left out)" if native else ""
        print(f"  {share * 100:5.1f}%{cost}  {name}: {group.samples} samples{waited}")
    for name in ("event loop (MainThread)", "writer thread"):
        group = groups.get(name)
        if group is None or not group.samples:
            continue
        # Shares below are of all working samples, so they add up across the two threads.
        print(f"\n== {name}: shares of all server CPU samples")
        if name.startswith("event loop"):
            table("by activity (inclusive)", group.activity, working, us, args.top)
        table("self by module", group.self_module, working, us, args.top)
        table("inclusive by module", group.incl_module, working, us, args.top)
        table("self by function", group.self_function, working, us, args.top)
        table("inclusive by function", group.incl_function, working, us, args.top)
        if native:
            table("leaf frame library", group.leaf_library, working, us, args.top)
        if args.lines:
            table("self by line", group.self_line, working, us, args.top)


if __name__ == "__main__":
    main()
