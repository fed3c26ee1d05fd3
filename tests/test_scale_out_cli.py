"""The operator's side of scale-out, with real processes on real PostgreSQL and Redis.

`copy-data` moving a SQLite installation (made through the API) onto PostgreSQL and the server
carrying on there; `serve --workers 2`; `check`, `migrate --status`, `create-user`, `backup` and
`restore` on PostgreSQL; and a Redis that goes away and comes back under open sockets, with
/health/ready saying so meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnichat.storage import pg_dump
from omnichat.storage.engine import SyncPostgres
from tests.agents import agent_socket, frames_until, quiet, reply
from tests.attachments import PNG, uploaded
from tests.engines import RedisServer, free_port, shared_postgres, shared_redis
from tests.servers import ROOT, ServerProcess, run_cli, server_env
from tests.staff import Account, closed_with, create_account, login, sign_in_owner
from tests.timing import UNIT, eventually
from tests.visitors import bearer, new_session, next_frame, send, visitor_socket

NO_VISITOR_LIMIT = {"OMNICHAT_LIMITS_MESSAGES_PER_MINUTE_PER_VISITOR": "0"}


def postgres_env(
    data_dir: Path, database_url: str, secret: str, redis_url: str | None = None, **more: str | None
) -> dict[str, str]:
    """A server on PostgreSQL (and Redis when given) with the installation's secret key."""
    return server_env(
        data_dir,
        OMNICHAT_STORAGE_DATABASE_URL=database_url,
        OMNICHAT_HUB_REDIS_URL=redis_url,
        OMNICHAT_SECURITY_SECRET_KEY=secret,
        **NO_VISITOR_LIMIT,
        **more,
    )


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Servers a test starts, stopped at its end whatever happens."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def visitor_message(server: ServerProcess, token: str, text: str, **extra: Any) -> dict[str, Any]:
    response = server.http.post(
        "/api/v1/widget/messages",
        json={"client_id": uuid.uuid4().hex, "text": text, **extra},
        headers=bearer(token),
    )
    assert response.status_code in (200, 201), response.text
    return dict(response.json()["message"])


def transcript(server: ServerProcess, account: Account, conversation_id: int) -> list[Any]:
    response = server.http.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=account.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


def row_counts(url: str) -> dict[str, int]:
    tables = ("tenants", "users", "conversations", "messages", "events", "attachments")
    found = query_url(
        url, " UNION ALL ".join(f"SELECT '{t}' AS t, COUNT(*) AS n FROM {t}" for t in tables)
    )
    return {row["t"]: row["n"] for row in found}


def query_url(url: str, sql: str) -> list[dict[str, Any]]:
    connection = SyncPostgres(url)
    try:
        return [dict(row) for row in connection.execute(sql)]
    finally:
        connection.close()


# copy-data


async def test_copy_data_moves_a_sqlite_installation_onto_postgresql(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """A SQLite installation made through the API, copied with `copy-data`, carries on on
    PostgreSQL: the same accounts, passwords, conversations, seqs, files, visitor tokens and
    agent resume positions. The copy is refused while the server runs and into a database
    that is not empty."""
    secret = secrets.token_urlsafe(32)
    data_dir = tmp_path / "data"
    sqlite_env = server_env(
        data_dir,
        OMNICHAT_STORAGE_DATABASE_URL=None,
        OMNICHAT_HUB_REDIS_URL=None,
        OMNICHAT_SECURITY_SECRET_KEY=secret,
        **NO_VISITOR_LIMIT,
    )
    old = ServerProcess(data_dir, sqlite_env)
    servers.append(old.start())
    owner = sign_in_owner(old)
    agent = create_account(old, owner, "agent")
    token = new_session(old)["token"]
    first = visitor_message(old, token, "hello, is anyone there?")
    conversation_id = first["conversation_id"]
    visitor_message(old, token, "I have a question about my order")
    answered = reply(old, agent, conversation_id, "Yes, how can I help?")
    assert answered.status_code == 201, answered.text
    attachment = uploaded(old, "/api/v1/widget/attachments", bearer(token), "receipt.png", PNG)
    visitor_message(old, token, "here is the receipt", attachments=[attachment["id"]])
    visitor_message(old, token, "and a follow-up: it was order 1234")
    # A follow-up left through the form by another visitor, while no agent was there.
    other = new_session(old)["token"]
    followup = old.http.post(
        "/api/v1/widget/followup",
        json={"name": "Ada", "email": "ada@example.com", "phone": "", "message": "call me"},
        headers=bearer(other),
    )
    assert followup.status_code == 201, followup.text
    label = old.http.post("/api/v1/labels", json={"name": "orders"}, headers=owner.headers)
    assert label.status_code == 201, label.text
    labelled = old.http.put(
        f"/api/v1/conversations/{conversation_id}/labels",
        json={"labels": ["orders"]},
        headers=owner.headers,
    )
    assert labelled.status_code == 200, labelled.text
    before = transcript(old, owner, conversation_id)
    # Five messages, and whatever the site adds (a greeting).
    last_seq = len(before)
    assert [m["seq"] for m in before] == list(range(1, last_seq + 1)) and last_seq >= 5
    async with agent_socket(old, owner.access_token) as (_, welcome):
        old_last_event = int(welcome["last_event_id"])

    target = shared_postgres().new_database()
    held = run_cli("copy-data", "--to", target, env=sqlite_env)
    assert held.returncode == 1, held.stdout
    assert "is in use by a running Omnichat server" in held.stderr, held.stderr
    assert "Traceback" not in held.stderr
    assert query_url(target, "SELECT COUNT(*) AS n FROM pg_tables WHERE schemaname = 'public'") == [
        {"n": 0}
    ], "a refused copy touched the target"

    old.stop()
    copied = run_cli("copy-data", "--to", target, env=sqlite_env)
    assert copied.returncode == 0, copied.stderr
    assert "verified" in copied.stdout, copied.stdout
    counts = row_counts(target)
    assert counts["messages"] == last_seq and counts["users"] == 2 and counts["attachments"] == 1

    again = run_cli("copy-data", "--to", target, env=sqlite_env)
    assert again.returncode == 1, again.stdout
    assert "not empty" in again.stderr and "Traceback" not in again.stderr, again.stderr
    assert row_counts(target) == counts, "a refused copy changed the target"

    # The bootstrap owner is not re-created: every account must come from the copy.
    new = ServerProcess(
        data_dir,
        postgres_env(
            data_dir,
            target,
            secret,
            OMNICHAT_BOOTSTRAP_EMAIL=None,
            OMNICHAT_BOOTSTRAP_PASSWORD=None,
        ),
    )
    servers.append(new.start())
    owner = sign_in_owner(new)
    login(new, agent.user["email"], agent.password)
    after = transcript(new, owner, conversation_id)
    assert [(m["id"], m["seq"], m["text"]) for m in after] == [
        (m["id"], m["seq"], m["text"]) for m in before
    ]
    followups = new.http.get("/api/v1/followups", headers=owner.headers).json()["followups"]
    assert [(f["id"], f["message"]) for f in followups] == [
        (followup.json()["followup"]["id"], "call me")
    ]
    found = new.http.get("/api/v1/conversations", params={"q": "receipt"}, headers=owner.headers)
    assert [c["id"] for c in found.json()["conversations"]] == [conversation_id]
    conversation = new.http.get(f"/api/v1/conversations/{conversation_id}", headers=owner.headers)
    assert conversation.json()["conversation"]["labels"] == ["orders"]
    link = next(m for m in after if m["attachments"])["attachments"][0]["url"]
    downloaded = new.http.get(link)
    assert downloaded.status_code == 200 and downloaded.content == PNG

    resumed = new_session(new, token)
    assert resumed["token"] == token
    assert [m["seq"] for m in resumed["messages"]] == list(range(1, last_seq + 1))
    async with visitor_socket(new, token, last_seq=last_seq) as (ws, welcome):
        assert welcome["messages"] == []
        await send(ws, {"type": "message", "client_id": "on-postgresql", "text": "still here"})
        ack = await next_frame(ws, "ack")
        assert ack["message"]["seq"] == last_seq + 1
    async with agent_socket(new, owner.access_token, old_last_event) as (ws, welcome):
        newest = int(welcome["last_event_id"])
        assert newest > old_last_event
        frames = await frames_until(ws, lambda f: f.get("type") == "event" and f["id"] >= newest)
        events = [f for f in frames if f.get("type") == "event"]
        assert all(f["id"] > old_last_event for f in events)
        assert any(
            f["event"] == "message.created" and f["data"]["message"]["text"] == "still here"
            for f in events
        )


# serve --workers


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def socket_owner(server_port: int, client_port: int, pids: set[int]) -> int | None:
    """Which of `pids` holds the server end of the TCP connection from `client_port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            inodes.add(fields[9])
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


def client_port(ws: Any) -> int:
    return int(ws.transport.get_extra_info("sockname")[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30 * UNIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("serve --workers never became ready")


async def test_serve_with_two_workers_shares_one_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`serve --workers 2` on PostgreSQL and Redis: two child processes accept on one port, a
    visitor on one and an agent on the other chat live, and SIGTERM stops them all."""
    data_dir = tmp_path / "data"
    port = free_port()
    env = postgres_env(
        data_dir,
        shared_postgres().new_database(),
        secrets.token_urlsafe(32),
        shared_redis().url(),
        OMNICHAT_SERVER_PORT=str(port),
    )
    log = (tmp_path / "workers.log").open("wb")
    parent = subprocess.Popen(
        [sys.executable, "run.py", "serve", "--workers", "2"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(data_dir, env, port=port)
    try:
        wait_ready(f"http://127.0.0.1:{port}", parent)
        children = children_of(parent.pid)
        assert len(children) == 2, children
        owner = sign_in_owner(server)
        token = new_session(server)["token"]
        # The kernel hands each connection to one child: open sockets until both have some.
        async with contextlib.AsyncExitStack() as stack:
            by_worker: dict[int, Any] = {}

            async def connect_until(opened: Any, wanted: Any) -> Any:
                """Open sockets until one lands on a worker `wanted(pid)`; keep that one.
                A child still starting accepts nothing, so this may take a while."""
                deadline = time.monotonic() + 20 * UNIT
                while time.monotonic() < deadline:
                    attempt = contextlib.AsyncExitStack()
                    ws, _ = await attempt.enter_async_context(opened())
                    pid = socket_owner(port, client_port(ws), children)
                    assert pid in children
                    if wanted(pid):
                        stack.push_async_exit(attempt)
                        return pid, ws
                    await attempt.aclose()
                    await asyncio.sleep(0.05)
                raise AssertionError("one worker process took every connection")

            while len(by_worker) < 2:
                pid, ws = await connect_until(
                    lambda: visitor_socket(server, token), lambda pid: pid not in by_worker
                )
                by_worker[pid] = ws
            visitor_pid, visitor = next(iter(by_worker.items()))
            _, agent = await connect_until(
                lambda: agent_socket(server, owner.access_token), lambda pid: pid != visitor_pid
            )
            await send(visitor, {"type": "message", "client_id": "w-1", "text": "via workers"})
            ack = await next_frame(visitor, "ack")
            await frames_until(
                agent,
                lambda f: (
                    f.get("event") == "message.created"
                    and f["data"]["message"]["text"] == "via workers"
                ),
            )
            answered = reply(server, owner, ack["message"]["conversation_id"], "answered")
            assert answered.status_code == 201, answered.text
            await frames_until(
                visitor,
                lambda f: f.get("type") == "message" and f["message"]["text"] == "answered",
            )

        # A worker killed is replaced; the port keeps answering meanwhile.
        victim = min(children)
        os.kill(victim, signal.SIGKILL)

        def replacement() -> set[int] | None:
            now = children_of(parent.pid)
            return now if victim not in now and len(now) == 2 else None

        replaced = eventually(replacement, what="a new worker in place of the killed one")
        assert server.http.get("/health/live").status_code == 200

        # SIGTERM just after a worker died: nothing is started in its place any more, and the
        # others stop at once (not after the 15 s grace).
        os.kill(min(replaced), signal.SIGKILL)
        log_path = tmp_path / "workers.log"
        eventually(
            lambda: log_path.read_text().count("starting another") == 2,
            what="the parent to notice the second death",
        )
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(10 * UNIT) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
        for child in children | replaced:
            assert (
                not Path(f"/proc/{child}").exists()
                or "Z" in (Path(f"/proc/{child}/stat").read_text().split()[2])
            ), f"worker {child} still runs"
    finally:
        server.http.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        log.close()


def test_serve_with_workers_is_refused_on_sqlite_and_without_redis(tmp_path: Path) -> None:
    """On SQLite, or with a Redis that does not answer, `serve --workers` stops at once with
    one line."""
    data_dir = tmp_path / "data"
    env = server_env(data_dir, OMNICHAT_STORAGE_DATABASE_URL=None, OMNICHAT_HUB_REDIS_URL=None)
    done = run_cli("serve", "--workers", "2", env=env, timeout=30)
    assert done.returncode == 1
    assert "serve --workers needs storage.database_url and hub.redis_url" in done.stderr
    assert "Traceback" not in done.stderr
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    env = postgres_env(data_dir, shared_postgres().new_database(), "k" * 43, nobody)
    done = run_cli("serve", "--workers", "2", env=env, timeout=30)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "hub.redis_url: Redis cannot be reached" in done.stderr, done.stderr
    checked = run_cli("check", env=env)
    assert checked.returncode == 1 and "Traceback" not in checked.stderr
    assert "hub.redis_url: Redis cannot be reached" in checked.stderr, checked.stderr


# The other commands on PostgreSQL


def test_commands_on_postgresql(tmp_path: Path, servers: list[ServerProcess]) -> None:
    """`check`, `migrate --status`, `create-user`, `backup` and `restore` on PostgreSQL."""
    data_dir = tmp_path / "data"
    url = shared_postgres().new_database()
    env = postgres_env(data_dir, url, secrets.token_urlsafe(32), shared_redis().url())
    server = ServerProcess(data_dir, env)
    servers.append(server.start())

    checked = run_cli("check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "settings ok" in checked.stdout and "PostgreSQL" in checked.stdout
    assert "Redis" in checked.stdout, checked.stdout

    status = run_cli("migrate", "--status", env=env)
    assert status.returncode == 0, status.stderr
    assert any(
        line.startswith("applied") and "0028_baseline" in line
        for line in status.stdout.splitlines()
    ), status.stdout
    assert "pending" not in status.stdout

    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    password = "a-long-enough-password"
    made = run_cli(
        "create-user", email, "--role", "agent", "--password-stdin", env=env, stdin=password + "\n"
    )
    assert made.returncode == 0, made.stderr
    login(server, email, password)
    twice = run_cli(
        "create-user", email, "--role", "agent", "--password-stdin", env=env, stdin=password + "\n"
    )
    assert twice.returncode == 1
    assert f"a user with the email {email} already exists" in twice.stderr

    owner = sign_in_owner(server)
    token = new_session(server)["token"]
    visitor_message(server, token, "before the backup")
    backed_up = run_cli("backup", env=env)
    assert backed_up.returncode == 0, backed_up.stderr
    assert "pg_restore --list ok" in backed_up.stdout
    (dump,) = (data_dir / "backups").glob("omnichat-*")
    assert dump.suffix == ".pgdump" and str(dump) in backed_up.stdout
    # The server lists it, and the owner's download is a dump too.
    assert server.http.get("/health/ready").json()["backup"]["status"] == "ok"
    listed = server.http.get("/api/v1/backups", headers=owner.headers).json()["backups"]
    assert [b["name"] for b in listed] == [dump.name]
    downloaded = server.http.post("/api/v1/backups", headers=owner.headers, timeout=60)
    assert downloaded.status_code == 200, downloaded.text
    copy = tmp_path / "downloaded.pgdump"
    copy.write_bytes(downloaded.content)
    listing = subprocess.run([pg_dump.tool("pg_restore"), "--list", str(copy)], capture_output=True)
    assert listing.returncode == 0 and b"TABLE DATA public messages" in listing.stdout
    visitor_message(server, token, "after the backup")
    server.stop()

    not_a_dump = tmp_path / "notes.pgdump"
    not_a_dump.write_text("not a dump")
    refused = run_cli("restore", str(not_a_dump), env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "restore failed (the database is unchanged): pg_restore --list" in refused.stderr
    restored = run_cli("restore", str(dump), env=env)
    assert restored.returncode == 0, restored.stderr
    server.start()
    history = new_session(server, token)["messages"]
    assert [m["text"] for m in history if m["sender"] == "visitor"] == ["before the backup"]
    login(server, email, password)


def test_the_owners_download_on_postgresql_is_named_as_a_dump(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """POST /api/v1/backups on PostgreSQL gives a pg_dump file: its name says `.pgdump`, as the
    kept backups' names do, so that nobody tries to open it with sqlite3."""
    data_dir = tmp_path / "data"
    env = postgres_env(data_dir, shared_postgres().new_database(), secrets.token_urlsafe(32))
    server = ServerProcess(data_dir, env)
    servers.append(server.start())
    owner = sign_in_owner(server)
    downloaded = server.http.post("/api/v1/backups", headers=owner.headers, timeout=60)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content.startswith(b"PGDMP")
    assert downloaded.headers["content-disposition"].endswith('.pgdump"')
    assert downloaded.headers["content-type"] != "application/vnd.sqlite3"


# Redis going away


async def test_sockets_resync_when_redis_drops_and_ready_says_so(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """Redis stops: visitor and agent sockets are closed with 1012, /health/ready is 503 with
    the hub check failing, and messages still go through over HTTP. Redis comes back on the
    same port: ready is 200, and both clients resume with exactly what they missed."""
    redis = RedisServer(tmp_path / "redis").start()
    try:
        data_dir = tmp_path / "data"
        env = postgres_env(
            data_dir, shared_postgres().new_database(), secrets.token_urlsafe(32), redis.url()
        )
        server = ServerProcess(data_dir, env)
        servers.append(server.start())
        ready = server.http.get("/health/ready").json()
        assert ready["checks"]["database"] == "ok" and ready["checks"]["hub"] == "ok"
        owner = sign_in_owner(server)
        token = new_session(server)["token"]
        first = visitor_message(server, token, "first")
        conversation_id, seen = first["conversation_id"], first["seq"]
        async with (
            agent_socket(server, owner.access_token) as (agent, agent_welcome),
            visitor_socket(server, token, last_seq=seen) as (visitor, _),
        ):
            last_event = int(agent_welcome["last_event_id"])
            redis.stop()
            assert await closed_with(visitor) == 1012
            assert await closed_with(agent) == 1012

        def ready_status() -> int:
            return server.http.get("/health/ready").status_code

        eventually(lambda: ready_status() == 503, what="ready to fail without Redis")
        down = server.http.get("/health/ready").json()
        assert down["checks"]["hub"] == "unavailable" and down["checks"]["database"] == "ok"
        assert "hub" in down["error"]["message"]

        visitor_message(server, token, "while redis was away")
        assert reply(server, owner, conversation_id, "answered meanwhile").status_code == 201
        visitor_message(server, token, "thanks")

        redis.start()
        eventually(lambda: ready_status() == 200, what="ready once Redis is back")

        async with visitor_socket(server, token, last_seq=seen) as (visitor, welcome):
            replayed = [(m["seq"], m["text"]) for m in welcome["messages"]]
            assert replayed == [
                (seen + 1, "while redis was away"),
                (seen + 2, "answered meanwhile"),
                (seen + 3, "thanks"),
            ]
            assert [f for f in await quiet(visitor) if f.get("type") == "message"] == []
        async with agent_socket(server, owner.access_token, last_event) as (agent, welcome):
            newest = int(welcome["last_event_id"])
            frames = await frames_until(
                agent, lambda f: f.get("type") == "event" and f["id"] >= newest
            )
            frames += await quiet(agent)
            ids = [f["id"] for f in frames if f.get("type") == "event"]
            assert ids == sorted(set(ids)) and ids[0] > last_event, ids
            texts = [
                f["data"]["message"]["text"] for f in frames if f.get("event") == "message.created"
            ]
            assert texts == ["while redis was away", "answered meanwhile", "thanks"]
            # Live again.
            visitor_message(server, token, "live again")
            live = await frames_until(agent, lambda f: f.get("event") == "message.created")
            assert live[-1]["data"]["message"]["text"] == "live again"
    finally:
        redis.stop()
