"""The audit log: written with the change it describes, paged newest first, admins only."""

from __future__ import annotations

import httpx
import pytest

from omnichat.accounts import audit
from omnichat.storage.db import Database, Tx
from tests.app_server import AppServer
from tests.staff import Account, create_account, other_tenant_account


async def test_entry_commits_and_rolls_back_with_its_change(database: Database) -> None:
    """An entry recorded in a transaction that fails is gone with it; a committed one stays."""

    async def kept(tx: Tx) -> int:
        return await audit.record(
            tx, tenant_id=1, actor_id=1, action="test.kept", target="thing:1", details={"n": 1}
        )

    async def failing(tx: Tx) -> None:
        await audit.record(tx, tenant_id=1, actor_id=None, action="test.lost", ip="192.0.2.1")
        raise RuntimeError("the change failed")

    entry_id = await database.write(kept)
    with pytest.raises(RuntimeError):
        await database.write(failing)
    entries, cursor = await audit.page(database, 1, before=None, limit=10)
    assert [e.action for e in entries] == ["test.kept"] and cursor is None
    assert entries[0].json() == {
        "id": entry_id,
        "created_at": entries[0].created_at,
        "action": "test.kept",
        "actor": {"id": 1, "name": "Owner"},
        "target": "thing:1",
        "details": {"n": 1},
        "ip": None,
    }


def read(app: AppServer, account: Account, **params: str | int) -> httpx.Response:
    return app.http.get("/api/v1/audit", params=params, headers=account.headers)


def test_pages_follow_the_cursor_without_gaps_or_repeats(app: AppServer, owner: Account) -> None:
    """Walking `next` with a small limit visits every entry once, newest first."""
    for name in ("one", "two", "three", "four", "five"):
        app.http.post("/api/v1/sites", json={"name": name}, headers=owner.headers)
    everything = read(app, owner, limit=20).json()["entries"]
    seen: list[int] = []
    cursor: str | None = None
    while len(seen) < len(everything):
        params: dict[str, str | int] = {"limit": 2} | ({"before": cursor} if cursor else {})
        body = read(app, owner, **params).json()
        assert len(body["entries"]) <= 2
        seen += [entry["id"] for entry in body["entries"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [entry["id"] for entry in everything]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen)
    newest = [e["details"].get("name") for e in everything[:5]]
    assert newest == ["five", "four", "three", "two", "one"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"before": "-1"}, "before"),
        ({"before": "abc"}, "before"),
    ],
)
def test_bad_paging_parameters_name_the_field(
    app: AppServer, owner: Account, params: dict[str, str | int], field: str
) -> None:
    """A limit outside 1..200 or a non-numeric cursor is a 422 naming the parameter."""
    response = read(app, owner, **params)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(f"{field}:")


@pytest.mark.parametrize(("role", "status"), [("agent", 403), ("admin", 200), ("owner", 200)])
def test_only_admins_read_the_log(app: AppServer, owner: Account, role: str, status: int) -> None:
    """Agents get 403; admins and owners read the log; no token is a 401."""
    actor = owner if role == "owner" else create_account(app, owner, role)
    assert read(app, actor).status_code == status
    assert app.http.get("/api/v1/audit").status_code == 401


def test_tenants_see_only_their_own_entries(app: AppServer, owner: Account) -> None:
    """Another tenant's admin sees their own sign-in but nothing from this tenant."""
    ours = {entry["id"] for entry in read(app, owner, limit=200).json()["entries"]}
    stranger = other_tenant_account(app, "admin")
    theirs = read(app, stranger, limit=200).json()["entries"]
    assert [entry["action"] for entry in theirs] == ["auth.login"]
    assert theirs[0]["actor"]["id"] == stranger.user["id"]
    assert not ours & {entry["id"] for entry in theirs}
