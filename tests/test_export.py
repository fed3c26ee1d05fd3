"""The conversations CSV: content, window, tenant, formula defusing, access and audit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest

from omnichat import times
from omnichat.chat import exports
from omnichat.storage.db import Database, Tx
from tests.app_server import AppServer
from tests.staff import Account, create_account, other_tenant_account
from tests.visitors import bearer, new_session


async def add_conversation(
    db: Database,
    *,
    tenant_id: int = 1,
    name: str | None = "Ann",
    email: str | None = None,
    phone: str | None = None,
    age_days: float = 0,
    messages: int = 2,
) -> int:
    """A visitor with one web conversation of `messages` messages, last touched `age_days` ago."""
    when = times.iso(times.now() - timedelta(days=age_days))

    async def op(tx: Tx) -> int:
        site_id = (
            await tx.fetch_one("SELECT id FROM sites WHERE tenant_id = :t", {"t": tenant_id})
        )[0]
        visitor_id = await tx.execute(
            "INSERT INTO visitors (tenant_id, site_id, name, email, phone, created_at,"
            " last_seen_at) VALUES (:t, :s, :name, :email, :phone, :when, :when)",
            {
                "t": tenant_id,
                "s": site_id,
                "name": name,
                "email": email,
                "phone": phone,
                "when": when,
            },
        )
        conversation_id = await tx.execute(
            "INSERT INTO conversations (tenant_id, site_id, visitor_id, channel, status,"
            " assignee_id, last_seq, created_at, updated_at) VALUES (:t, :s, :v, 'web', 'open',"
            " NULL, :n, :when, :when)",
            {"t": tenant_id, "s": site_id, "v": visitor_id, "n": messages, "when": when},
        )
        for seq in range(1, messages + 1):
            await tx.execute(
                "INSERT INTO messages (conversation_id, seq, sender, text, created_at)"
                " VALUES (:c, :seq, 'visitor', 'hello', :when)",
                {"c": conversation_id, "seq": seq, "when": when},
            )
        return conversation_id

    return await db.write(op)


async def export_rows(db: Database, tenant_id: int, days: int) -> list[dict[str, str]]:
    text = "".join([chunk async for chunk in exports.conversations_csv(db, tenant_id, days)])
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


async def test_rows_hold_the_conversation_and_its_visitor(database: Database) -> None:
    """Each row has the contract's columns with the visitor, counts and times."""
    conversation_id = await add_conversation(
        database, name="Ann", email="ann@example.com", phone=None, messages=3
    )
    rows = await export_rows(database, 1, 30)
    assert list(rows[0]) == exports.HEADER
    row = next(r for r in rows if r["id"] == str(conversation_id))
    assert row["status"] == "open" and row["channel"] == "web" and row["site"] == "Default site"
    assert row["visitor_name"] == "Ann" and row["visitor_email"] == "ann@example.com"
    assert row["visitor_phone"] == "" and row["assignee"] == ""
    assert row["message_count"] == "3" and row["last_message_at"].endswith("Z")


async def test_formula_cells_are_defused(database: Database) -> None:
    """Cells starting with = + - @ get a leading quote, so spreadsheets show them as text."""
    conversation_id = await add_conversation(
        database,
        name='=HYPERLINK("http://evil.test","click")',
        email="@evil.test",
        phone="+15551234567",
    )
    await add_conversation(database, name="-2+3")
    rows = await export_rows(database, 1, 30)
    row = next(r for r in rows if r["id"] == str(conversation_id))
    assert row["visitor_name"] == '\'=HYPERLINK("http://evil.test","click")'
    assert row["visitor_email"] == "'@evil.test" and row["visitor_phone"] == "'+15551234567"
    assert "'-2+3" in [r["visitor_name"] for r in rows]
    assert exports.defuse("Ann = Bob") == "Ann = Bob" and exports.defuse(7) == 7


async def test_window_and_tenant_bound_the_rows(database: Database) -> None:
    """Conversations idle longer than N days, or of another tenant, are left out."""
    recent = await add_conversation(database, age_days=1)
    old = await add_conversation(database, age_days=10)
    await database.write(
        lambda tx: tx.execute(
            "INSERT INTO tenants (slug, name, created_at) VALUES ('other', 'Other', :now)",
            {"now": times.now_iso()},
        )
    )
    await database.write(
        lambda tx: tx.execute(
            "INSERT INTO sites (tenant_id, name, site_key, created_at, updated_at)"
            " SELECT id, 'Theirs', 'site_theirs', :now, :now FROM tenants WHERE slug = 'other'",
            {"now": times.now_iso()},
        )
    )
    foreign = await add_conversation(database, tenant_id=2)
    ids = {row["id"] for row in await export_rows(database, 1, 5)}
    assert str(recent) in ids and str(old) not in ids and str(foreign) not in ids
    assert str(old) in {row["id"] for row in await export_rows(database, 1, 11)}


async def test_large_exports_page_through_every_row(database: Database) -> None:
    """More rows than one page are all exported, once each."""
    made = [await add_conversation(database, messages=0) for _ in range(exports.PAGE + 3)]
    ids = [int(row["id"]) for row in await export_rows(database, 1, 1)]
    assert ids == sorted(ids) and set(made) <= set(ids) and len(ids) == len(set(ids))


def download(app: AppServer, account: Account, days: str | None = "30") -> httpx.Response:
    params = {} if days is None else {"days": days}
    return app.http.get("/api/v1/export/conversations.csv", params=params, headers=account.headers)


def test_export_over_http_is_a_defused_csv_and_audited(app: AppServer, owner: Account) -> None:
    """A widget visitor's conversation appears with a defused name; the download is audited."""
    session = new_session(app)
    visitor = bearer(session["token"])
    base = "/api/v1/widget"
    named = app.http.post(f"{base}/identify", json={"name": "=1+2"}, headers=visitor)
    assert named.status_code == 200
    sent = app.http.post(
        f"{base}/messages", json={"client_id": "c1", "text": "hi"}, headers=visitor
    )
    assert sent.status_code == 201
    conversation_id = sent.json()["message"]["conversation_id"]
    response = download(app, owner, "7")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r["id"] == str(conversation_id))
    assert row["visitor_name"] == "'=1+2" and int(row["message_count"]) >= 1
    entries = app.http.get("/api/v1/audit", headers=owner.headers).json()["entries"]
    assert entries[0]["action"] == "export.conversations"
    assert entries[0]["details"] == {"days": 7} and entries[0]["actor"]["id"] == owner.user["id"]


@pytest.mark.parametrize("days", ["0", "367", "abc", "-1", "1.5"])
def test_days_outside_1_to_366_are_refused(app: AppServer, owner: Account, days: str) -> None:
    """`days` must be a whole number from 1 to 366; otherwise 422 naming it."""
    response = download(app, owner, days)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("days:")


@pytest.mark.parametrize(("role", "status"), [("agent", 403), ("admin", 200), ("owner", 200)])
def test_only_admins_export(app: AppServer, owner: Account, role: str, status: int) -> None:
    """Agents get 403; admins and owners get the CSV."""
    actor = owner if role == "owner" else create_account(app, owner, role)
    assert download(app, actor, None).status_code == status


def test_other_tenants_export_holds_none_of_ours(app: AppServer) -> None:
    """Another tenant's export has only its header: none of this tenant's conversations."""
    visitor = bearer(new_session(app)["token"])
    sent = app.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "c1", "text": "hello"},
        headers=visitor,
    )
    assert sent.status_code == 201
    stranger = other_tenant_account(app, "admin")
    rows = list(csv.reader(io.StringIO(download(app, stranger).content.decode("utf-8-sig"))))
    assert rows == [exports.HEADER]
