"""Sites over the API: admins only, write-only identity secret, snippet, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.staff import Account, create_account, other_tenant_account, owner

SITE_FIELDS = {
    "id",
    "name",
    "site_key",
    "allowed_origins",
    "greeting",
    "patience_seconds",
    "patience_text",
    "escalate_seconds",
    "escalate_text",
    "followup_text",
    "business_hours",
    "away_text",
    "auto_close_minutes",
    "has_identity_secret",
    "sms_number",
    "whatsapp_number",
    "alert_numbers",
    "alert_webhook_url",
    "snippet",
}


def create(server: ServerProcess, actor: Account, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.base_url}/api/v1/sites", json=body, headers=actor.headers)


def patch(server: ServerProcess, actor: Account, site_id: int, **body: Any) -> httpx.Response:
    return httpx.patch(
        f"{server.base_url}/api/v1/sites/{site_id}", json=body, headers=actor.headers
    )


def listed(server: ServerProcess, actor: Account) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.base_url}/api/v1/sites", headers=actor.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["sites"])


@pytest.mark.parametrize(
    ("role", "status_list", "status_create", "status_patch"),
    [("agent", 403, 403, 403), ("admin", 200, 201, 200), ("owner", 200, 201, 200)],
)
def test_role_matrix(
    server: ServerProcess, role: str, status_list: int, status_create: int, status_patch: int
) -> None:
    """Only admins and owners may list, create or change sites."""
    boss = owner(server)
    actor = boss if role == "owner" else create_account(server, boss, role)
    site_id = listed(server, boss)[0]["id"]
    base = server.base_url
    assert httpx.get(f"{base}/api/v1/sites", headers=actor.headers).status_code == status_list
    assert create(server, actor, name="Matrix").status_code == status_create
    assert patch(server, actor, site_id, greeting="Hello there").status_code == status_patch
    assert httpx.get(f"{base}/api/v1/sites").status_code == 401


def test_new_site_has_defaults_a_key_and_a_snippet(server: ServerProcess) -> None:
    """A created site carries every contract field, the default texts and its embed snippet."""
    response = create(server, owner(server), name="Shop", allowed_origins=["https://Shop.test/"])
    assert response.status_code == 201
    site = response.json()["site"]
    assert set(site) == SITE_FIELDS
    assert site["name"] == "Shop" and site["allowed_origins"] == ["https://shop.test"]
    assert site["greeting"] == "Connecting you with a staff member, please wait..."
    assert site["site_key"].startswith("site_") and len(site["site_key"]) >= 25
    assert site["sms_number"] is None and site["whatsapp_number"] is None
    assert site["has_identity_secret"] is False and site["alert_webhook_url"] is None
    assert site["snippet"] == (
        f'<script src="{server.base_url}/widget.js" data-site="{site["site_key"]}" async></script>'
    )


def test_patch_changes_only_what_it_names(server: ServerProcess) -> None:
    """A PATCH stores the fields it carries and leaves the others as they were."""
    boss = owner(server)
    site = create(server, boss, name="Partial", greeting="Hi!", patience_seconds=45).json()["site"]
    response = patch(
        server,
        boss,
        site["id"],
        escalate_seconds=300,
        alert_numbers=["+1 555 123 4567"],
        business_hours={"timezone": "America/New_York", "days": {"fri": [["09:00", "17:00"]]}},
    )
    assert response.status_code == 200
    updated = response.json()["site"]
    assert updated["greeting"] == "Hi!" and updated["patience_seconds"] == 45
    assert updated["escalate_seconds"] == 300 and updated["alert_numbers"] == ["+15551234567"]
    assert updated["business_hours"]["days"] == {"fri": [["09:00", "17:00"]]}
    assert next(s for s in listed(server, boss) if s["id"] == site["id"]) == updated


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowed_origins", ["https://shop.test/checkout"]),
        ("greeting", ""),
        ("patience_seconds", -5),
        ("alert_numbers", ["12345"]),
        ("alert_webhook_url", "gopher://x.test"),
        ("sms_number", "5551234567"),
        ("site_key", "site_stolen"),
    ],
)
def test_invalid_fields_answer_422_naming_them(
    server: ServerProcess, field: str, value: Any
) -> None:
    """A bad value is a 422 whose message starts with the field, and nothing is stored."""
    boss = owner(server)
    site = create(server, boss, name="Strict").json()["site"]
    response = patch(server, boss, site["id"], **{field: value}, name="Should not stick")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_field"
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert next(s for s in listed(server, boss) if s["id"] == site["id"]) == site


def test_identity_secret_is_write_only(server: ServerProcess) -> None:
    """The secret can be set and cleared, but no answer or audit entry ever shows it."""
    boss = owner(server)
    secret = "very-secret-identity-key-123"
    site = create(server, boss, name="Secretive", identity_secret=secret)
    assert site.json()["site"]["has_identity_secret"] is True
    site_id = site.json()["site"]["id"]
    assert (
        patch(server, boss, site_id, identity_secret=None).json()["site"]["has_identity_secret"]
        is False
    )
    patch(server, boss, site_id, identity_secret=secret + "-2")
    answers = [site.text, httpx.get(f"{server.base_url}/api/v1/sites", headers=boss.headers).text]
    answers.append(httpx.get(f"{server.base_url}/api/v1/audit", headers=boss.headers).text)
    assert all(secret not in text for text in answers)


def test_site_changes_are_audited(server: ServerProcess) -> None:
    """Creating and changing a site leave entries naming the changed fields."""
    boss = owner(server)
    site_id = create(server, boss, name="Audited").json()["site"]["id"]
    patch(server, boss, site_id, greeting="Welcome", escalate_seconds=10)
    entries = httpx.get(f"{server.base_url}/api/v1/audit", headers=boss.headers).json()["entries"]
    mine = [e for e in entries if e["target"] == f"site:{site_id}"]
    assert [e["action"] for e in mine] == ["site.updated", "site.created"]
    assert mine[0]["details"] == {"fields": ["escalate_seconds", "greeting"]}
    assert mine[1]["details"]["name"] == "Audited"


def test_widget_sees_changes_and_origins_are_enforced(server: ServerProcess) -> None:
    """A new greeting reaches the widget; a browser origin not in the list is refused."""
    boss = owner(server)
    site = create(
        server, boss, name="Live", greeting="Hi from the API", allowed_origins=["https://ok.test"]
    ).json()["site"]
    url = f"{server.base_url}/api/v1/widget/session"
    body = {"site_key": site["site_key"], "token": None}
    allowed = httpx.post(url, json=body, headers={"Origin": "https://ok.test"})
    assert allowed.status_code == 200
    assert allowed.json()["site"]["greeting"] == "Hi from the API"
    assert httpx.post(url, json=body, headers={"Origin": "https://evil.test"}).status_code == 403


def test_other_tenants_sites_are_invisible(server: ServerProcess) -> None:
    """Another tenant's admin never lists this tenant's sites and gets 404 changing one."""
    boss = owner(server)
    mine = listed(server, boss)
    stranger = other_tenant_account(server, "admin")
    theirs = listed(server, stranger)
    assert not {s["id"] for s in theirs} & {s["id"] for s in mine}
    response = patch(server, stranger, mine[0]["id"], name="Taken over")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert listed(server, boss)[0]["name"] == mine[0]["name"]


def test_twilio_numbers_are_set_cleared_and_unique(server: ServerProcess) -> None:
    """A site takes E.164 SMS and WhatsApp numbers; another site asking for one gets 409."""
    boss = owner(server)
    number = "+1555" + str(uuid.uuid4().int)[:7]
    first = create(server, boss, name="Texts", sms_number=number, whatsapp_number=number)
    assert first.status_code == 201
    site = first.json()["site"]
    assert site["sms_number"] == number and site["whatsapp_number"] == number
    second = create(server, boss, name="Copycat").json()["site"]
    taken = patch(server, boss, second["id"], sms_number=number)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "number_taken"
    assert taken.json()["error"]["message"].startswith("sms_number:")
    cleared = patch(server, boss, site["id"], sms_number=None).json()["site"]
    assert cleared["sms_number"] is None and cleared["whatsapp_number"] == number
    moved = patch(server, boss, second["id"], sms_number=number)
    assert moved.status_code == 200 and moved.json()["site"]["sms_number"] == number


def test_star_origin_allows_any_browser_in_development(server: ServerProcess) -> None:
    """A site allowing `*` serves a widget on any origin (development; production refuses it)."""
    site = create(server, owner(server), name="Open", allowed_origins=["*"]).json()["site"]
    assert site["allowed_origins"] == ["*"]
    answer = httpx.post(
        f"{server.base_url}/api/v1/widget/session",
        json={"site_key": site["site_key"], "token": None},
        headers={"Origin": "https://anywhere.test"},
    )
    assert answer.status_code == 200
