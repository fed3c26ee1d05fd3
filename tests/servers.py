"""The server under test, two ways: `python run.py serve`, or the app in this process.

Both offer the same few things, so the client helpers (tests/visitors.py, agents.py, staff.py)
take either: `http` (an httpx-style client with the base URL set), `async_http()`, `websocket()`
(a socket shaped like the `websockets` library's), `data_dir`, `database_path` and `env`.

`AppServer` (tests/app_server.py) runs `create_app` under Starlette's TestClient, lifespan and
scheduler included, in a thread of this process: no process to start, no port, no TLS context
per request. `ServerProcess` is the real thing, for what only a process shows: its logs,
uvicorn's limits on request heads and frames, kill -9, restarts, the CLI, and the browser.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import connect

from omnichat.storage.engine import SyncPostgres
from tests.engines import engine_env, free_port
from tests.timing import UNIT

ROOT = Path(__file__).resolve().parent.parent
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct-horse-battery-staple"


def server_env(data_dir: Path, **overrides: str | None) -> dict[str, str]:
    """The environment of a server under test: its data dir, the bootstrap owner, bcrypt cost 4
    and no per-IP limits (an override of None removes a key)."""
    env: dict[str, str | None] = {
        "OMNICHAT_CONFIG": str(ROOT / "settings.toml"),
        "OMNICHAT_STORAGE_DATA_DIR": str(data_dir),
        "OMNICHAT_BOOTSTRAP_EMAIL": OWNER_EMAIL,
        "OMNICHAT_BOOTSTRAP_PASSWORD": OWNER_PASSWORD,
        # Cost 4 keeps the suite fast; production refuses anything under 12.
        "OMNICHAT_SECURITY_BCRYPT_ROUNDS": "4",
        # Every test talks from 127.0.0.1, so per-IP limits would couple unrelated tests; the
        # tests of the limits start their own server with the limit they check.
        "OMNICHAT_LIMITS_SESSIONS_PER_MINUTE_PER_IP": "0",
        "OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_IP": "0",
        "OMNICHAT_LIMITS_SOCKETS_PER_IP": "0",
        "OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP": "0",
        **engine_env(),
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


class Socket(Protocol):
    """What the tests use of a WebSocket client connection."""

    close_code: int | None

    async def send(self, message: str | bytes) -> None: ...

    async def recv(self) -> str | bytes: ...


class Server(Protocol):
    """What the client helpers need of a server under test, in process or not."""

    data_dir: Path
    env: dict[str, str]

    @property
    def http(self) -> httpx.Client: ...

    @property
    def database_path(self) -> Path: ...

    def async_http(self, **options: Any) -> httpx.AsyncClient: ...

    def websocket(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[Socket]: ...


def query(server: Server, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """Run `sql` on the server's own database, whichever engine it uses (SQLite in its data dir,
    or PostgreSQL), committed at once: a test reading what is stored, or setting up what the API
    cannot."""
    url = server.env.get("OMNICHAT_STORAGE_DATABASE_URL")
    if url:
        connection = SyncPostgres(url)
        try:
            return [dict(row) for row in connection.execute(sql, params)]
        finally:
            connection.close()
    with contextlib.closing(sqlite3.connect(server.database_path, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(row) for row in db.execute(sql, params)]
        db.commit()
        return rows


# The real server.


def run_cli(
    *args: str, env: Mapping[str, str], stdin: str = "", umask: int = -1, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` from the repository, as an operator runs it, with `env` added to
    this environment (and, when given, the umask it starts with)."""
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        umask=umask,
    )


@dataclass
class ServerProcess:
    """A running `python run.py serve` with its own port and data dir."""

    data_dir: Path
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    stdout_path: Path = field(init=False)
    stderr_path: Path = field(init=False)
    _http: httpx.Client | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.stdout_path = self.data_dir.parent / f"{self.data_dir.name}.stdout"
        self.stderr_path = self.data_dir.parent / f"{self.data_dir.name}.stderr"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> httpx.Client:
        """One pooled client per start (a fresh `httpx.post` builds a TLS context each time)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.base_url)
        return self._http

    def async_http(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, **options)

    def websocket(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[Socket]:
        return connect(self.ws_url + path, additional_headers=headers)  # type: ignore[return-value]

    def start(self, timeout: float = 20 * UNIT) -> ServerProcess:
        """Start the server (again, on a new port if the old one is taken) and wait until ready."""
        self._close_http()
        self.port = free_port()
        env = {**os.environ, **self.env, "OMNICHAT_SERVER_PORT": str(self.port)}
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "run.py", "serve"], cwd=ROOT, env=env, stdout=out, stderr=err
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if self.http.get("/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.logs()}")

    def stop(self) -> int | None:
        """Stop gracefully (SIGTERM), as an operator would."""
        self._close_http()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15 * UNIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return None if self.process is None else self.process.returncode

    def kill(self) -> None:
        """Kill -9: no shutdown code runs."""
        self._close_http()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    @property
    def database_path(self) -> Path:
        return self.data_dir / "omnichat.sqlite"

    def _close_http(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
