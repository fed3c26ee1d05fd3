"""Log lines: JSON for machines, coloured console lines for a person at a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from omnichat.logs import console_wanted
from tests.servers import ROOT, free_port, server_env
from tests.timing import UNIT


def _started_line(data_dir: Path, *, tty: bool, **overrides: str) -> str:
    """Start a real server with stderr on a terminal or a pipe; its line saying it started."""
    env = {
        **os.environ,
        **server_env(data_dir, OMNICHAT_SERVER_PORT=str(free_port()), **overrides),
    }
    env.pop("NO_COLOR", None)
    reader, writer = pty.openpty() if tty else os.pipe()
    process = subprocess.Popen(
        [sys.executable, "run.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=writer,
    )
    os.close(writer)
    received, deadline = b"", time.monotonic() + 30 * UNIT
    try:
        while b"started" not in received and time.monotonic() < deadline:
            chunk = os.read(reader, 65536)
            if not chunk:
                break
            received += chunk
    finally:
        process.terminate()
        process.wait(timeout=30 * UNIT)
        os.close(reader)
    line = next(row for row in received.decode().splitlines() if "started" in row)
    return line


def test_development_at_a_terminal_writes_coloured_console_lines(tmp_path: Path) -> None:
    """`python run.py` in a terminal, in development, prints lines a person reads: time,
    coloured level, logger and message, fields as key=value; no JSON."""
    line = _started_line(tmp_path / "data", tty=True)
    assert not line.lstrip().startswith("{")
    assert "\x1b[" in line and "omnichat.app started" in line and "env=development" in line


def test_piped_output_is_json_lines(tmp_path: Path) -> None:
    """With stderr piped (a service manager, a log shipper) each line is one JSON object."""
    entry = orjson.loads(_started_line(tmp_path / "data", tty=False))
    assert entry["msg"] == "started" and entry["level"] == "info" and entry["env"] == "development"


def test_the_setting_chooses_console_lines_even_when_piped(tmp_path: Path) -> None:
    """`server.log_format = "console"` gives console lines through a pipe (without colour
    codes only when NO_COLOR is set)."""
    line = _started_line(tmp_path / "data", tty=False, OMNICHAT_SERVER_LOG_FORMAT="console")
    assert "omnichat.app started" in line and not line.startswith("{")


class _Terminal:
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("log_format", "production", "console"),
    [
        ("auto", False, True),
        ("auto", True, False),
        ("json", False, False),
        ("console", True, True),
    ],
)
def test_auto_means_console_only_in_development(
    log_format: str, production: bool, console: bool
) -> None:
    """At a terminal `auto` gives console lines in development and JSON in production; an
    explicit format wins."""
    assert console_wanted(log_format, production, _Terminal()) is console
