"""Shared fixtures: the app in process, the real server as a subprocess, signed-in owners, a
migrated database for domain tests, and the browser.

`app` is one in-process app for the whole session, `start_app(**env)` a fresh one with its own
data dir and settings (tests/servers.py says what they are). `server` and `start_server(**env)`
are the same for real `python run.py serve` processes, kept for what only a process shows.
Shared ones are per xdist worker; tests must not depend on a shared one's being empty.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from omnichat.protocol.hub import Hub
from omnichat.settings import build_settings
from omnichat.signing import Signer
from omnichat.storage import datadir, engine
from omnichat.storage.db import Database
from tests.app_server import AppServer
from tests.servers import ServerProcess, server_env
from tests.staff import Account, sign_in_owner
from tests.timing import UNIT

if TYPE_CHECKING:
    from playwright.sync_api import Browser

BROWSER_TIMEOUT = 10 * UNIT
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Three workers for a run of the suite, which mostly waits (servers and browsers starting,
    escalation timers) and so keeps two cores busy; none for a run of a few files, where
    starting workers would cost more than they save."""
    paths = {Path(arg.split("::")[0]) for arg in config.args}
    return 3 if len(paths) > 3 or any(path.is_dir() for path in paths) else 0


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """One in-process app shared by the session."""
    data_dir = tmp_path_factory.mktemp("app") / "data"
    started = AppServer(data_dir, server_env(data_dir)).start()
    # The default site's patience and escalation steps off: 30 s after a test's conversation
    # they would reach the agent sockets of whichever test runs then. Tests of the steps make
    # sites of their own.
    headers = sign_in_owner(started).headers
    site = started.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    quiet = {"patience_seconds": 0, "escalate_seconds": 0}
    started.http.patch(
        f"/api/v1/sites/{site['id']}", json=quiet, headers=headers
    ).raise_for_status()
    yield started
    started.stop()


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., AppServer]]:
    """Start fresh in-process apps with extra environment; each is stopped after the test."""
    started: list[AppServer] = []

    def start(**env: str | None) -> AppServer:
        data_dir = tmp_path / f"app{len(started)}"
        made = AppServer(data_dir, server_env(data_dir, **env))
        started.append(made)
        return made.start()

    yield start
    for made in started:
        made.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server shared by the session."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    process = ServerProcess(data_dir, server_env(data_dir)).start()
    yield process
    process.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start fresh real servers with extra environment; each is stopped after the test."""
    started: list[ServerProcess] = []

    def start(start: bool = True, **env: str | None) -> ServerProcess:
        data_dir = tmp_path / f"data{len(started)}"
        process = ServerProcess(data_dir, server_env(data_dir, **env))
        started.append(process)
        return process.start() if start else process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def owner(app: AppServer) -> Account:
    """The shared app's owner, signed in once per module (tests that end or change its session
    sign in for themselves)."""
    return sign_in_owner(app)


@pytest.fixture(scope="module")
def server_owner(server: ServerProcess) -> Account:
    """The shared real server's owner, signed in once per module."""
    return sign_in_owner(server)


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
    db = engine.make_database(settings, Hub(), Signer())
    await db.connect()
    yield db
    await db.close()
