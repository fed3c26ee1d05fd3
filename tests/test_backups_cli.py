"""`run.py backup` and `run.py restore` against real servers and real files."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, run_cli, server_env
from tests.timing import UNIT, eventually
from tests.visitors import bearer, new_session

UNLIMITED = {
    "OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR": "0",
    "OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_IP": "0",
    "OMNICHAT_LIMITS_SESSIONS_PER_MINUTE_PER_IP": "0",
}
CONVERSATIONS = "SELECT id, visitor_id, status, last_seq FROM conversations ORDER BY id"
MESSAGES = "SELECT conversation_id, seq, sender, text, client_id FROM messages ORDER BY id"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, timeout=120)


def query(path: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def one_line_failure(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr


def post_message(server: ServerProcess, token: str, text: str) -> None:
    response = server.http.post(
        "/api/v1/widget/messages",
        json={"client_id": text, "text": text},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text


class MessageLoad(threading.Thread):
    """Visitors posting messages one after another; `acked` grows as each is committed."""

    def __init__(self, server: ServerProcess, tokens: list[str]) -> None:
        super().__init__(daemon=True)
        self.server, self.tokens = server, tokens
        self.acked: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            text = f"load-{n}"
            post_message(self.server, self.tokens[n % len(self.tokens)], text)
            self.acked.append(text)
            n += 1

    def stop(self) -> None:
        self.stopping.set()
        self.join()


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_have_help(command: str, tmp_path: Path) -> None:
    """`--help` explains each command."""
    result = run(command, "--help", env=server_env(tmp_path))
    assert result.returncode == 0 and "usage:" in result.stdout


def test_backup_while_serving_and_restore_into_a_fresh_data_dir(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """A backup taken under chat traffic restores into a new data dir that serves the same data."""
    source = start_server(**UNLIMITED)
    tokens = [new_session(source)["token"] for _ in range(3)]
    load = MessageLoad(source, tokens)
    load.start()
    eventually(lambda: len(load.acked) >= 30, 20 * UNIT, "30 acknowledged messages")
    acked_before = list(load.acked)
    target = tmp_path / "copy.sqlite"
    made = run("backup", str(target), env=source.env)
    acked_during = len(load.acked) - len(acked_before)
    load.stop()
    assert made.returncode == 0, made.stderr
    assert acked_during > 0, "no message was committed while the backup ran"
    assert query(target, "PRAGMA integrity_check") == [("ok",)]
    copied = {row[0] for row in query(target, "SELECT text FROM messages")}
    assert set(acked_before) <= copied
    source.stop()

    fresh = start_server(start=False)
    restored = run("restore", str(target), env=fresh.env)
    assert restored.returncode == 0, restored.stderr
    fresh.start()
    ready = fresh.http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["migrations"] == "ok"
    assert query(fresh.database_path, CONVERSATIONS) == query(target, CONVERSATIONS)
    assert query(fresh.database_path, MESSAGES) == query(target, MESSAGES)
    # The restored server works: old visitor tokens resume their conversation, new messages land.
    session = new_session(fresh, token=tokens[0])
    assert session["token"] == tokens[0]
    stored = query(
        target,
        "SELECT text FROM messages WHERE conversation_id = "
        f"{int(session['conversation']['id'])} AND sender = 'visitor' ORDER BY seq",
    )
    shown = [m["text"] for m in session["messages"] if m["sender"] == "visitor"]
    assert shown == [row[0] for row in stored] and shown
    post_message(fresh, tokens[0], "after-restore")
    login = fresh.http.post(
        "/api/v1/auth/login",
        json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
    )
    assert login.status_code == 200


def test_backup_command_defaults_to_the_backups_dir_with_retention(
    start_server: Callable[..., ServerProcess],
) -> None:
    """`backup` without a path writes a dated file into data/backups and keeps backup.keep."""
    server = start_server(OMNICHAT_BACKUP_KEEP="2")
    for _ in range(3):
        result = run("backup", env=server.env)
        assert result.returncode == 0, result.stderr
        assert "backup written to" in result.stdout
    names = sorted(p.name for p in (server.data_dir / "backups").iterdir())
    assert len(names) == 2 and all(n.startswith("omnichat-") for n in names), names
    existing = server.data_dir / "backups" / names[0]
    one_line_failure(run("backup", str(existing), env=server.env), "already exists")


def test_restore_refuses_while_the_server_runs(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Restore refuses, in one line, while a server holds the data dir; nothing changes."""
    server = start_server()
    backup = tmp_path / "good.sqlite"
    assert run("backup", str(backup), env=server.env).returncode == 0
    before = sorted(p.name for p in server.data_dir.iterdir())
    one_line_failure(run("restore", str(backup), env=server.env), "server is running")
    assert sorted(p.name for p in server.data_dir.iterdir()) == before
    assert server.http.get("/health/ready").status_code == 200


def test_a_server_cannot_start_on_a_data_dir_in_use(
    start_server: Callable[..., ServerProcess],
) -> None:
    """A second server on the same data dir stops with one line instead of sharing it."""
    server = start_server()
    env = {**server.env, "OMNICHAT_SERVER_PORT": str(server.port)}
    one_line_failure(run("serve", env=env), "in use by a running Omnichat server")


def test_restore_refusal_is_one_line(tmp_path: Path) -> None:
    """A file that is not a database is refused in one line with a non-zero exit."""
    env = server_env(tmp_path / "data")
    assert run("migrate", env=env).returncode == 0
    before = (tmp_path / "data" / "omnichat.sqlite").read_bytes()
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database\n" * 100)
    one_line_failure(run("restore", str(bad), env=env), "is not an SQLite database")
    assert (tmp_path / "data" / "omnichat.sqlite").read_bytes() == before


def test_restore_keeps_the_previous_database_aside(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """The database a restore replaces is renamed aside with its WAL and still opens as it was."""
    server = start_server()
    backup = tmp_path / "early.sqlite"
    assert run("backup", str(backup), env=server.env).returncode == 0
    new_session(server)  # a visitor the backup does not have
    server.kill()  # leaves the -wal behind, as a crash would
    visitors = query(server.database_path, "SELECT COUNT(*) FROM visitors")
    result = run("restore", str(backup), env=server.env)
    assert result.returncode == 0, result.stderr
    (aside,) = [
        p
        for p in server.data_dir.glob("omnichat.sqlite.before-restore-*")
        if not p.name.endswith(("-wal", "-shm"))
    ]
    assert str(aside) in result.stdout
    assert query(aside, "SELECT COUNT(*) FROM visitors") == visitors
    assert query(server.database_path, "SELECT COUNT(*) FROM visitors") == [(0,)]
