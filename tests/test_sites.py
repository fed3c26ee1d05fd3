"""Sites over the API: admins only, write-only identity secret, snippet, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.app_server import AppServer
from tests.staff import Account, create_account, other_tenant_account

SITE_FIELDS = {
    "id",
    "default_country",
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
    "prechat",
    "ratings",
    "auto_close_minutes",
    "has_identity_secret",
    "sms_number",
    "whatsapp_number",
    "alert_numbers",
    "alert_webhook_url",
    "snippet",
    "auto_assign",
    "max_open_per_agent",
    # Issue 14: staff notifications leave out the visitor's words (default true).
    "hide_content",
    # Issue 14: escalation alerts by email too.
    "alert_emails",
    # Issue 14: the on-call rota (alert_numbers/alert_emails are its fallback).
    "on_call",
}


def create(app: AppServer, actor: Account, **body: Any) -> httpx.Response:
    return app.http.post("/api/v1/sites", json=body, headers=actor.headers)


def patch(app: AppServer, actor: Account, site_id: int, **body: Any) -> httpx.Response:
    return app.http.patch(f"/api/v1/sites/{site_id}", json=body, headers=actor.headers)


def listed(app: AppServer, actor: Account) -> list[dict[str, Any]]:
    response = app.http.get("/api/v1/sites", headers=actor.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["sites"])


@pytest.mark.parametrize(
    ("role", "status_list", "status_create", "status_patch"),
    [("agent", 403, 403, 403), ("admin", 200, 201, 200), ("owner", 200, 201, 200)],
)
def test_role_matrix(
    app: AppServer,
    owner: Account,
    role: str,
    status_list: int,
    status_create: int,
    status_patch: int,
) -> None:
    """Only admins and owners may list, create or change sites."""
    actor = owner if role == "owner" else create_account(app, owner, role)
    site_id = listed(app, owner)[0]["id"]
    assert app.http.get("/api/v1/sites", headers=actor.headers).status_code == status_list
    assert create(app, actor, name="Matrix").status_code == status_create
    assert patch(app, actor, site_id, greeting="Hello there").status_code == status_patch
    assert app.http.get("/api/v1/sites").status_code == 401


def test_new_site_has_defaults_a_key_and_a_snippet(app: AppServer, owner: Account) -> None:
    """A created site carries every contract field, the default texts and its embed snippet."""
    response = create(app, owner, name="Shop", allowed_origins=["https://Shop.test/"])
    assert response.status_code == 201
    site = response.json()["site"]
    assert set(site) == SITE_FIELDS
    assert site["name"] == "Shop" and site["allowed_origins"] == ["https://shop.test"]
    assert site["greeting"] == "Connecting you with a staff member, please wait..."
    assert site["site_key"].startswith("site_") and len(site["site_key"]) >= 25
    assert site["sms_number"] is None and site["whatsapp_number"] is None
    assert site["has_identity_secret"] is False and site["alert_webhook_url"] is None
    assert site["snippet"] == (
        f'<script src="{app.base_url}/widget.js" data-site="{site["site_key"]}" async></script>'
    )


def test_patch_changes_only_what_it_names(app: AppServer, owner: Account) -> None:
    """A PATCH stores the fields it carries and leaves the others as they were."""
    site = create(app, owner, name="Partial", greeting="Hi!", patience_seconds=45).json()["site"]
    response = patch(
        app,
        owner,
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
    assert next(s for s in listed(app, owner) if s["id"] == site["id"]) == updated


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
    app: AppServer, owner: Account, field: str, value: Any
) -> None:
    """A bad value is a 422 whose message starts with the field, and nothing is stored."""
    site = create(app, owner, name="Strict").json()["site"]
    response = patch(app, owner, site["id"], **{field: value}, name="Should not stick")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_field"
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert next(s for s in listed(app, owner) if s["id"] == site["id"]) == site


def test_identity_secret_is_write_only(app: AppServer, owner: Account) -> None:
    """The secret can be set and cleared, but no answer or audit entry ever shows it."""
    secret = "very-secret-identity-key-123"
    site = create(app, owner, name="Secretive", identity_secret=secret)
    assert site.json()["site"]["has_identity_secret"] is True
    site_id = site.json()["site"]["id"]
    assert (
        patch(app, owner, site_id, identity_secret=None).json()["site"]["has_identity_secret"]
        is False
    )
    patch(app, owner, site_id, identity_secret=secret + "-2")
    answers = [site.text, app.http.get("/api/v1/sites", headers=owner.headers).text]
    answers.append(app.http.get("/api/v1/audit", headers=owner.headers).text)
    assert all(secret not in text for text in answers)


def test_site_changes_are_audited(app: AppServer, owner: Account) -> None:
    """Creating and changing a site leave entries naming the changed fields."""
    site_id = create(app, owner, name="Audited").json()["site"]["id"]
    patch(app, owner, site_id, greeting="Welcome", escalate_seconds=10)
    entries = app.http.get("/api/v1/audit", headers=owner.headers).json()["entries"]
    mine = [e for e in entries if e["target"] == f"site:{site_id}"]
    assert [e["action"] for e in mine] == ["site.updated", "site.created"]
    assert mine[0]["details"] == {"fields": ["escalate_seconds", "greeting"]}
    assert mine[1]["details"]["name"] == "Audited"


def test_widget_sees_changes_and_origins_are_enforced(app: AppServer, owner: Account) -> None:
    """A new greeting reaches the widget; a browser origin not in the list is refused."""
    site = create(
        app, owner, name="Live", greeting="Hi from the API", allowed_origins=["https://ok.test"]
    ).json()["site"]
    url = "/api/v1/widget/session"
    body = {"site_key": site["site_key"], "token": None}
    allowed = app.http.post(url, json=body, headers={"Origin": "https://ok.test"})
    assert allowed.status_code == 200
    assert allowed.json()["site"]["greeting"] == "Hi from the API"
    assert app.http.post(url, json=body, headers={"Origin": "https://evil.test"}).status_code == 403


def test_other_tenants_sites_are_invisible(app: AppServer, owner: Account) -> None:
    """Another tenant's admin never lists this tenant's sites and gets 404 changing one."""
    mine = listed(app, owner)
    stranger = other_tenant_account(app, "admin")
    theirs = listed(app, stranger)
    assert not {s["id"] for s in theirs} & {s["id"] for s in mine}
    response = patch(app, stranger, mine[0]["id"], name="Taken over")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert listed(app, owner)[0]["name"] == mine[0]["name"]


def test_twilio_numbers_are_set_cleared_and_unique(app: AppServer, owner: Account) -> None:
    """A site takes E.164 SMS and WhatsApp numbers; another site asking for one gets 409."""
    number = "+1555" + str(uuid.uuid4().int)[:7]
    first = create(app, owner, name="Texts", sms_number=number, whatsapp_number=number)
    assert first.status_code == 201
    site = first.json()["site"]
    assert site["sms_number"] == number and site["whatsapp_number"] == number
    second = create(app, owner, name="Copycat").json()["site"]
    taken = patch(app, owner, second["id"], sms_number=number)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "number_taken"
    assert taken.json()["error"]["message"].startswith("sms_number:")
    cleared = patch(app, owner, site["id"], sms_number=None).json()["site"]
    assert cleared["sms_number"] is None and cleared["whatsapp_number"] == number
    moved = patch(app, owner, second["id"], sms_number=number)
    assert moved.status_code == 200 and moved.json()["site"]["sms_number"] == number


def test_star_origin_allows_any_browser_in_development(app: AppServer, owner: Account) -> None:
    """A site allowing `*` serves a widget on any origin (development; production refuses it)."""
    site = create(app, owner, name="Open", allowed_origins=["*"]).json()["site"]
    assert site["allowed_origins"] == ["*"]
    answer = app.http.post(
        "/api/v1/widget/session",
        json={"site_key": site["site_key"], "token": None},
        headers={"Origin": "https://anywhere.test"},
    )
    assert answer.status_code == 200
