"""Shared fixtures: the real server as a subprocess, and a migrated database for domain tests.

`server` is one server for the whole session (tests must not depend on its being empty);
`start_server(**env)` starts a fresh one with its own data dir and settings, stopped at the end
of the test. Both wait for /health/ready before handing it over.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from omnichat.settings import build_settings
from omnichat.storage import datadir
from omnichat.storage.db import Database

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "correct-horse-battery-staple"
# Timeouts are multiples of this unit, so a slower machine can scale them all at once.
UNIT = float(os.environ.get("OMNICHAT_TEST_TIME_UNIT", "1"))
BROWSER_TIMEOUT = 10 * UNIT
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A running `python run.py serve` with its own port and data dir."""

    data_dir: Path
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    stdout_path: Path = field(init=False)
    stderr_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.stdout_path = self.data_dir.parent / f"{self.data_dir.name}.stdout"
        self.stderr_path = self.data_dir.parent / f"{self.data_dir.name}.stderr"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20 * UNIT) -> ServerProcess:
        """Start the server (again, on a new port if the old one is taken) and wait until ready."""
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
                if httpx.get(f"{self.base_url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.logs()}")

    def stop(self) -> int | None:
        """Stop gracefully (SIGTERM), as an operator would."""
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


def server_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
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
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server shared by the session."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    process = ServerProcess(data_dir, server_env(data_dir)).start()
    yield process
    process.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start fresh servers with extra environment; each is stopped after the test."""
    started: list[ServerProcess] = []

    def start(start: bool = True, **env: str) -> ServerProcess:
        data_dir = tmp_path / f"data{len(started)}"
        process = ServerProcess(data_dir, server_env(data_dir, **env))
        started.append(process)
        return process.start() if start else process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by playwright, one per test module (launched as DEVELOPERS.md
    says: never a browser download)."""
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "the browser tests need Debian's chromium (scripts/test.sh installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        expect.set_options(timeout=BROWSER_TIMEOUT * 1000)
        yield launched
        launched.close()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, bootstrapped database in a temp dir, for domain tests without a server."""
    settings = build_settings({}, server_env(tmp_path / "data"))
    settings = datadir.prepare(settings, announce=lambda text: None)
    db = Database(settings.database_path)
    await db.connect()
    yield db
    await db.close()
