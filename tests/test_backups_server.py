"""Backups inside the running server: the schedule, failures made visible, the owner download."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess
from tests.staff import create_user_cli
from tests.timing import UNIT, eventually

PASSWORD = "a-perfectly-fine-password"
# 0.0003 hours is about a second: the shortest schedule the setting allows in practice.
FAST = {"OMNICHAT_BACKUP_INTERVAL_HOURS": "0.0003"}


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    text = server.http.get("/metrics").text
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(f"{name}{{{selector}}}" if labels else name) + r" (\S+)"
    match = re.search(f"^{pattern}$", text, re.MULTILINE)
    assert match, f"{name} {labels} not in /metrics"
    return float(match.group(1))


def backup_health(server: ServerProcess) -> dict[str, Any]:
    response = server.http.get("/health/ready")
    assert response.status_code == 200, response.text
    return dict(response.json()["backup"])


def sign_in(server: ServerProcess, email: str, password: str) -> dict[str, str]:
    response = server.http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def new_account(server: ServerProcess, role: str, tenant: str = "default") -> dict[str, str]:
    """An account made with `run.py create-user`, signed in."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    create_user_cli(server, email, role, tenant, PASSWORD)
    return sign_in(server, email, PASSWORD)


def test_scheduled_backups_run_and_keep_the_newest(
    start_server: Callable[..., ServerProcess],
) -> None:
    """On a short schedule backups happen by themselves, and only backup.keep of them stay."""
    server = start_server(**FAST, OMNICHAT_BACKUP_KEEP="2")

    def made() -> float:
        return metric(server, "omnichat_backups_total", kind="scheduled", outcome="ok")

    eventually(lambda: made() >= 3, 60 * UNIT, what=server.logs)
    health = backup_health(server)
    assert health["status"] == "ok" and health["last_failure_at"] is None
    assert 0 <= health["newest_age_seconds"] < 60
    assert metric(server, "omnichat_backup_last_success_timestamp_seconds") > time.time() - 60
    assert metric(server, "omnichat_backup_duration_seconds_count") >= 3
    server.stop()  # so no backup is between its rename and its pruning while we count
    files = sorted((server.data_dir / "backups").glob("omnichat-*.sqlite"))
    assert len(files) == 2
    for file in files:
        with contextlib.closing(sqlite3.connect(file)) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_failing_backup_is_counted_logged_and_shown_to_owners(
    start_server: Callable[..., ServerProcess],
) -> None:
    """A backups dir replaced by a file fails the backup visibly; fixing it clears the failure."""
    server = start_server(**FAST)
    backups_dir = server.data_dir / "backups"
    eventually(
        lambda: metric(server, "omnichat_backups_total", kind="scheduled", outcome="ok") >= 1,
        20 * UNIT,
    )
    shutil.rmtree(backups_dir)
    backups_dir.write_text("in the way")
    failed = dict(kind="scheduled", outcome="failed")
    eventually(lambda: metric(server, "omnichat_backups_total", **failed) >= 1, 20 * UNIT)

    health = backup_health(server)  # still 200: a failed backup never makes the server unready
    assert health["status"] == "failed" and health["last_failure_at"]
    assert str(backups_dir) not in str(health), "the public health check names no paths"
    owner = sign_in(server, OWNER_EMAIL, OWNER_PASSWORD)
    listing = server.http.get("/api/v1/backups", headers=owner).json()
    assert listing["failing"] is True
    assert str(backups_dir) in listing["last_failure"]["message"]
    assert '"msg":"backup failed"' in server.logs()

    backups_dir.unlink()
    eventually(lambda: backup_health(server)["status"] == "ok", 20 * UNIT)
    listing = server.http.get("/api/v1/backups", headers=owner).json()
    assert listing["failing"] is False and listing["backups"]


def test_owner_downloads_a_fresh_checked_backup(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """POST /api/v1/backups streams a fresh, intact copy as an attachment, and is audited."""
    server = start_server(OMNICHAT_BACKUP_INTERVAL_HOURS="0")  # no scheduled backups at all
    owner = sign_in(server, OWNER_EMAIL, OWNER_PASSWORD)
    response = server.http.post("/api/v1/backups", headers=owner, timeout=60)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="omnichat-\d{8}-\d{6}\.sqlite"', disposition)
    assert response.headers["cache-control"] == "no-store"
    assert int(response.headers["content-length"]) == len(response.content)
    copy = tmp_path / "download.sqlite"
    copy.write_bytes(response.content)
    with contextlib.closing(sqlite3.connect(copy)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        emails = {row[0] for row in connection.execute("SELECT email FROM users")}
        audited = connection.execute("SELECT COUNT(*) FROM audit WHERE action = 'backup.download'")
        assert OWNER_EMAIL in emails and audited.fetchone()[0] >= 1
    # A download is not one of the kept backups and leaves no file behind.
    assert list((server.data_dir / "backups").iterdir()) == []
    listing = server.http.get("/api/v1/backups", headers=owner)
    assert listing.status_code == 200 and listing.json()["backups"] == []
    assert backup_health(server)["status"] == "none"


def test_only_the_installations_owners_reach_backups(server: ServerProcess) -> None:
    """Anonymous callers get 401; admins, and owners of other tenants, get 403."""
    url = "/api/v1/backups"
    for method in ("GET", "POST"):
        assert server.http.request(method, url).status_code == 401
    refused = [
        new_account(server, "admin"),
        new_account(server, "owner", f"t{uuid.uuid4().hex[:8]}"),
    ]
    for headers in refused:
        for method in ("GET", "POST"):
            response = server.http.request(method, url, headers=headers)
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "forbidden"


async def test_one_download_backup_is_made_at_a_time(
    start_server: Callable[..., ServerProcess],
) -> None:
    """A second download while one is being made gets 429 with Retry-After, not a second copy."""
    server = start_server(OMNICHAT_BACKUP_INTERVAL_HOURS="0")
    server.stop()
    with contextlib.closing(sqlite3.connect(server.database_path)) as connection:
        row = ("filler", "x" * 4000, "2026-01-01T00:00:00.000Z")
        connection.executemany(
            "INSERT INTO audit (action, details, created_at) VALUES (?, ?, ?)", [row] * 20000
        )
        connection.commit()
    server.start()
    owner = sign_in(server, OWNER_EMAIL, OWNER_PASSWORD)
    async with httpx.AsyncClient(base_url=server.base_url, headers=owner, timeout=60) as client:
        first, second = await asyncio.gather(
            client.post("/api/v1/backups"), client.post("/api/v1/backups")
        )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 429]
    refused = first if first.status_code == 429 else second
    assert refused.json()["error"]["code"] == "rate_limited" and refused.headers["retry-after"]
