"""Throwaway PostgreSQL and Redis servers on loopback, for the scale-out tests.

Each is the real Debian server started in a temp dir on a free port and stopped at the end:
PostgreSQL through `initdb` and `pg_ctl` (as the `postgres` user when we are root, since the
server refuses to run as root), Redis as `redis-server --port N --save ''`. scripts/test.sh
installs both when missing. `PostgresServer.new_database()` gives each test its own empty
database, so tests never see each other's rows.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_USER = "omnichat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin(name: str) -> str:
    """A PostgreSQL server program: Debian keeps them off the PATH, per major version."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    assert on_path, f"PostgreSQL's {name} is missing (scripts/test.sh installs postgresql)"
    return on_path


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    # A directory of its own under /tmp: pytest's temp dirs are private to root, and the
    # server runs as `postgres`.
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="omnichat-pg-")))
    port: int = field(default_factory=free_port)
    # True: fsync, synchronous commit and full page writes on, as in production (benchmarks).
    durable: bool = False

    def start(self) -> PostgresServer:
        data = self.directory / "pgdata"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    pg_bin("initdb"),
                    "-D",
                    str(data),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        # fsync off: a test server's data need not survive the machine, only Omnichat's kill -9.
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        options += " -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            _as_postgres(
                [
                    pg_bin("pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(self.directory / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return self

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [pg_bin("pg_ctl"), "-D", str(self.directory / "pgdata"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        name = "t" + uuid.uuid4().hex[:12]
        subprocess.run(
            [pg_bin("psql"), self.url(), "-q", "-c", f"CREATE DATABASE {name}"],
            check=True,
            capture_output=True,
        )
        return self.url(name)


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is missing (scripts/test.sh installs it)"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ping = subprocess.run(
                [shutil.which("redis-cli") or "redis-cli", "-p", str(self.port), "ping"],
                capture_output=True,
                text=True,
            )
            if ping.stdout.strip() == "PONG":
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def url(self, number: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{number}"


_shared: dict[str, PostgresServer | RedisServer] = {}


def shared_postgres() -> PostgresServer:
    """This test process's PostgreSQL server, started on first use and stopped at exit."""
    if "pg" not in _shared:
        server = PostgresServer().start()
        atexit.register(server.stop)
        _shared["pg"] = server
    found = _shared["pg"]
    assert isinstance(found, PostgresServer)
    return found


def shared_redis() -> RedisServer:
    """This test process's Redis server, started on first use and stopped at exit."""
    if "redis" not in _shared:
        server = RedisServer(Path(tempfile.mkdtemp(prefix="omnichat-redis-"))).start()
        atexit.register(server.stop)
        _shared["redis"] = server
    found = _shared["redis"]
    assert isinstance(found, RedisServer)
    return found


def engine_env() -> dict[str, str]:
    """With TEST_ENGINES=postgresql (scripts/test.sh's second pass), every server under
    test gets a fresh PostgreSQL database and the shared Redis; otherwise nothing (SQLite)."""
    if os.environ.get("TEST_ENGINES") != "postgresql":
        return {}
    return {
        "OMNICHAT_STORAGE_DATABASE_URL": shared_postgres().new_database(),
        "OMNICHAT_HUB_REDIS_URL": shared_redis().url(),
    }
