"""Everything Omnichat writes is for its owner only, whatever the umask it was started with."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from omnichat.storage import datadir
from tests.servers import ServerProcess, run_cli, server_env
from tests.timing import UNIT

# The usual shell umask: on its own it leaves new files readable by everyone.
SHELL_UMASK = 0o022


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, stdin=stdin, umask=SHELL_UMASK)


def loose_modes(top: Path) -> dict[str, str]:
    """Every dir under (and including) `top` that is not 0700, every file that is not 0600."""
    found = {}
    for path in [top, *top.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        if mode != (0o700 if path.is_dir() else 0o600):
            found[str(path.relative_to(top.parent))] = f"{mode:04o}"
    return found


def test_serve_on_a_fresh_data_dir_keeps_everything_owner_only(
    start_server: Callable[..., ServerProcess],
) -> None:
    """`serve` under umask 022: data dir, database, -wal, -shm, secret key, lock and scheduled
    backups all owner-only (it used to leave drwxr-xr-x and -rw-r--r--)."""
    with umask(SHELL_UMASK):
        server = start_server(OMNICHAT_BACKUP_INTERVAL_HOURS="0.0003")
    data = server.data_dir
    deadline = time.monotonic() + 30 * UNIT
    while not list((data / "backups").glob("omnichat-*.sqlite")):
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.05)
    names = {path.name for path in data.iterdir()}
    assert {
        "omnichat.sqlite",
        "omnichat.sqlite-wal",
        "omnichat.sqlite-shm",
        "secret_key",
        "omnichat.lock",
        "backups",
    } <= names
    assert loose_modes(data) == {}


def test_every_command_on_a_fresh_data_dir_keeps_everything_owner_only(tmp_path: Path) -> None:
    """migrate, check, create-user, backup and restore under umask 022 create nothing that
    others can read."""
    commands = {
        "migrate": ["migrate"],
        "check": ["check"],
        "create-user": ["create-user", "ada@example.com", "--role", "agent"],
        "restore": ["restore"],
    }
    source = tmp_path / "source"
    assert run("migrate", env=server_env(source)).returncode == 0
    backup = run("backup", env=server_env(source))
    assert backup.returncode == 0, backup.stderr
    written = run("backup", str(tmp_path / "one.sqlite"), env=server_env(source))
    assert written.returncode == 0, written.stderr
    [made] = (source / "backups").glob("omnichat-*.sqlite")
    for name, args in commands.items():
        data = tmp_path / name
        if name == "restore":
            args = [*args, str(made)]
        result = run(*args, env=server_env(data))
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert loose_modes(data) == {}, name
    assert loose_modes(source) == {}
    assert (tmp_path / "one.sqlite").stat().st_mode & 0o777 == 0o600


def test_older_world_readable_database_is_made_owner_only(tmp_path: Path) -> None:
    """A database left -rw-r--r-- by an earlier version is tightened (SQLite would give its
    new -wal and -shm the same mode), and an open data dir is reported by `check`."""
    data = tmp_path / "data"
    assert run("migrate", env=server_env(data)).returncode == 0
    data.chmod(0o755)
    (data / "omnichat.sqlite").chmod(0o644)
    result = run("check", env=server_env(data))
    assert result.returncode == 0, result.stderr
    assert (data / "omnichat.sqlite").stat().st_mode & 0o777 == 0o600
    assert f"chmod 700 {data}" in result.stdout + result.stderr


def test_private_file_ignores_the_umask(tmp_path: Path) -> None:
    """The helper every creator uses makes 0600 files even under a permissive umask."""
    with umask(0):
        datadir.create_private_file(tmp_path / "f")
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o600
