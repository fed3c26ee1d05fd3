"""Backups and restores of a PostgreSQL installation, with PostgreSQL's own pg_dump/pg_restore.

A backup is `pg_dump --format=custom` (one consistent snapshot, taken while servers run),
checked by `pg_restore --list` reading it whole; restore is `pg_restore --clean` in a single
transaction, so a failed restore leaves the database as it was. The password never appears on
a command line (others can read those): it goes to the tools in PGPASSWORD.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from omnichat.errors import StartupError


class ToolMissing(StartupError):
    pass


def tool(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise ToolMissing(
            f"{name} is not installed: install PostgreSQL's client tools (Debian: apt-get"
            " install postgresql-client, the same major version as the server), or back up"
            " with your PostgreSQL's own means (pg_basebackup, WAL archiving)"
        )
    return found


def _split(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries the password."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"{user}{host}{port}")
    return urlunsplit(parts), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # Our own arguments and a path we chose; no shell.
    done = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no message"]
        # The error and its detail lines (the versions, on a mismatch), not the noise before.
        first = next((i for i, line in enumerate(lines) if " error: " in line), len(lines) - 1)
        message = "; ".join(line.strip() for line in lines[first:])
        if "version mismatch" in message or "unsupported version" in message:
            message += (
                "; use the client tools of the server's major version (Debian:"
                " apt-get install postgresql-client-N)"
            )
        raise OSError(f"{what} failed: {message}")


def dump(url: str, target: Path) -> None:
    """Write a checked custom-format dump of the database at `url` to the new file `target`."""
    address, env = _split(url)
    command = [tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"]
    _run([*command, f"--file={target}", f"--dbname={address}"], env, "pg_dump")
    _run([tool("pg_restore"), "--list", str(target)], env, "pg_restore --list (the check)")


def restore(url: str, source: Path) -> None:
    """Replace the database at `url` with the dump `source`, all or nothing."""
    address, env = _split(url)
    _run([tool("pg_restore"), "--list", str(source)], env, "pg_restore --list (the check)")
    command = [
        tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={address}",
        str(source),
    ]
    _run(command, env, "pg_restore")
