"""`serve --workers N`: N server processes accepting on one listening socket.

The parent binds the port once and starts N children (`python run.py serve`), each given the
socket as an inherited file descriptor; the kernel hands each new connection to one of them. No
sticky sessions are needed: every process reads and writes the same PostgreSQL and hears every
live frame through Redis, so a visitor and an agent on different processes chat as on one.
The parent restarts a child that dies (its sockets reconnect to the others meanwhile) and
passes SIGTERM and SIGINT on to all of them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

log = logging.getLogger("omnichat.workers")

LISTEN_FD_ENV = "OMNICHAT_LISTEN_FD"
RESTART_DELAY_SECONDS = 1.0
STOP_GRACE_SECONDS = 15.0
QUICK_EXIT_SECONDS = 10.0
QUICK_EXITS_ALLOWED = 3


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def inherited_socket() -> socket.socket | None:
    """The listening socket a `--workers` parent gave this process, if any."""
    fd = os.environ.get(LISTEN_FD_ENV)
    return None if fd is None else socket.socket(fileno=int(fd))


def supervise(count: int, host: str, port: int, argv: Sequence[str]) -> int:
    """Run `count` children of `python run.py ARGV` on one socket until told to stop."""
    listener = bind(host, port)
    env = {**os.environ, LISTEN_FD_ENV: str(listener.fileno())}
    command = [sys.executable, "-m", "omnichat", *argv]
    stopping: int | None = None  # the signal that told us to stop
    failed = False

    def start() -> subprocess.Popen[bytes]:
        # Our own interpreter and module, no shell: nothing here comes from a request.
        return subprocess.Popen(command, env=env, pass_fds=(listener.fileno(),))  # noqa: S603

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = signum
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    children = [start() for _ in range(count)]
    started_at = [time.monotonic()] * count
    quick_exits = 0
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving on %s:%d with %d worker processes", host, port, count)
    while stopping is None:
        time.sleep(0.2)
        for index, child in enumerate(children):
            if child.poll() is not None and stopping is None:
                log.error("worker %d exited with %s; starting another", child.pid, child.returncode)
                # A worker that dies as soon as it starts (a setting, an unreachable database)
                # would die again: after a few in a row, stop and say so.
                short = time.monotonic() - started_at[index] < QUICK_EXIT_SECONDS
                quick_exits = quick_exits + 1 if short else 0
                if quick_exits >= QUICK_EXITS_ALLOWED:
                    log.error("workers keep exiting at start-up; stopping (see the errors above)")
                    stop(signal.SIGTERM, None)
                    failed = True
                    break
                time.sleep(RESTART_DELAY_SECONDS)
                if stopping is not None:
                    break
                children[index] = start()
                started_at[index] = time.monotonic()
                # A signal that came while it started did not reach it.
                if stopping is not None:
                    children[index].send_signal(stopping)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    listener.close()
    return 1 if failed else 0
