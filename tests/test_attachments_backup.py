"""Attachments survive `run.py backup` and `run.py restore` on real servers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from tests.attachments import PDF, PNG, uploaded
from tests.servers import ServerProcess, run_cli
from tests.visitors import bearer, new_session


def test_backup_then_restore_serves_the_same_files(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Files sent before a backup come back byte for byte from a fresh data dir after restore."""
    source = start_server()
    token = new_session(source)["token"]
    image = uploaded(source, "/api/v1/widget/attachments", bearer(token), "a.png", PNG)
    # Several 256 KiB slices, streamed through the real server.
    big = PDF + bytes(range(256)) * 12_000
    document = uploaded(source, "/api/v1/widget/attachments", bearer(token), "b.pdf", big)
    sent = source.http.post(
        "/api/v1/widget/messages",
        json={
            "client_id": uuid.uuid4().hex,
            "text": "",
            "attachments": [image["id"], document["id"]],
        },
        headers=bearer(token),
    )
    assert sent.status_code == 201, sent.text
    target = tmp_path / "copy.sqlite"
    made = run_cli("backup", str(target), env=source.env, timeout=120)
    assert made.returncode == 0, made.stderr
    source.stop()

    fresh = start_server(start=False)
    restored = run_cli("restore", str(target), env=fresh.env, timeout=120)
    assert restored.returncode == 0, restored.stderr
    fresh.start()
    session = new_session(fresh, token=token)
    files = [a for m in session["messages"] for a in m["attachments"]]
    assert [a["name"] for a in files] == ["a.png", "b.pdf"]
    assert fresh.http.get(files[0]["url"]).content == PNG
    assert fresh.http.get(files[1]["url"]).content == big
