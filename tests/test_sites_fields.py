"""Site field validation, without a server: every field checked, errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from omnichat.egress import Egress
from omnichat.errors import Invalid
from omnichat.sites.fields import parse


def test_origins_are_normalised_as_browsers_send_them() -> None:
    """Case, a bare trailing slash and default ports are dropped; duplicates collapse."""
    clean = parse(
        {
            "allowed_origins": [
                "HTTPS://Shop.Example.com/",
                "https://shop.example.com:443",
                "http://localhost:8080",
                "http://[::1]:3000",
            ]
        },
        production=False,
        creating=False,
    )
    assert clean["allowed_origins"] == [
        "https://shop.example.com",
        "http://localhost:8080",
        "http://[::1]:3000",
    ]


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example.com/path",
        "https://shop.example.com?x=1",
        "https://shop.example.com#top",
        "ftp://shop.example.com",
        "shop.example.com",
        "https://user@shop.example.com",
        "https://shop.example.com:99999",
        "https://shop_example.com",
        "javascript:alert(1)",
        "",
        42,
    ],
)
def test_bad_origins_are_refused(origin: Any) -> None:
    """Anything but scheme://host[:port] with http(s) is a 422 on allowed_origins."""
    with pytest.raises(Invalid) as refused:
        parse({"allowed_origins": [origin]}, production=False, creating=False)
    assert refused.value.field == "allowed_origins"


def test_star_origin_only_in_development() -> None:
    """'*' is kept in development and refused in production."""
    assert parse({"allowed_origins": ["*"]}, production=False, creating=False) == {
        "allowed_origins": ["*"]
    }
    with pytest.raises(Invalid, match="production"):
        parse({"allowed_origins": ["*"]}, production=True, creating=False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "n" * 101),
        ("greeting", "   "),
        ("greeting", "g" * 1001),
        ("patience_text", 5),
        ("escalate_text", None),
        ("away_text", ""),
        ("followup_text", "f" * 1001),
        ("patience_seconds", -1),
        ("patience_seconds", 86401),
        ("escalate_seconds", 1.5),
        ("escalate_seconds", True),
        ("escalate_seconds", "60"),
        ("auto_close_minutes", 43201),
        ("alert_numbers", ["555-1234"]),
        ("alert_numbers", "+15551234567"),
        ("alert_numbers", ["+1555123456789012"]),
        ("alert_numbers", ["+1555"] * 11),
        ("alert_webhook_url", "ftp://hooks.example.com"),
        ("alert_webhook_url", "https://"),
        ("alert_webhook_url", "not a url"),
        ("alert_webhook_url", "http://127.0.0.1:8080/hook"),
        ("alert_webhook_url", "http://0x7f000001/"),
        ("alert_webhook_url", "http://[::ffff:169.254.169.254]/"),
        ("alert_webhook_url", "https://localhost/"),
        ("identity_secret", "short"),
        ("identity_secret", 12345678901234567),
        ("business_hours", {"timezone": "Mars/Olympus", "days": {}}),
        ("business_hours", {"timezone": "UTC", "days": {"funday": []}}),
        ("business_hours", {"timezone": "UTC", "days": {"mon": [["17:00", "09:00"]]}}),
        ("business_hours", {"timezone": "UTC", "days": {"mon": [["9:00", "17:00"]]}}),
        ("business_hours", {"timezone": "UTC"}),
        ("business_hours", "always"),
        ("sms_number", "555-1234"),
        ("whatsapp_number", ["+15551234567"]),
        ("site_key", "site_mine"),
        ("snippet", "<script>"),
        ("colour", "red"),
    ],
)
def test_each_bad_value_names_its_field(field: str, value: Any) -> None:
    """A bad value of any field raises Invalid for that field."""
    with pytest.raises(Invalid) as refused:
        parse({field: value}, production=False, creating=False)
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{field}:")


def test_good_values_come_back_clean() -> None:
    """Texts are trimmed, numbers pasted with spaces become E.164, nulls clear what they can."""
    clean = parse(
        {
            "name": "  Shop  ",
            "greeting": " Hello! ",
            "patience_seconds": 0,
            "escalate_seconds": 86400,
            "auto_close_minutes": 60,
            "alert_numbers": ["+1 (555) 123-4567", "+15551234567", "+33 6 12 34 56 78"],
            "alert_webhook_url": "https://hooks.example.com/omnichat?k=1",
            "identity_secret": "0123456789abcdef",
            "business_hours": {
                "timezone": "Europe/Paris",
                "days": {"mon": [["09:00", "12:00"], ["14:00", "24:00"]], "sun": []},
            },
            "sms_number": "+1 555 010 0123",
            "whatsapp_number": None,
        },
        production=True,
        creating=True,
    )
    assert clean == {
        "name": "Shop",
        "greeting": "Hello!",
        "patience_seconds": 0,
        "escalate_seconds": 86400,
        "auto_close_minutes": 60,
        "alert_numbers": ["+15551234567", "+33612345678"],
        "alert_webhook_url": "https://hooks.example.com/omnichat?k=1",
        "identity_secret": "0123456789abcdef",
        "business_hours": {
            "timezone": "Europe/Paris",
            "days": {"mon": [["09:00", "12:00"], ["14:00", "24:00"]]},
        },
        "sms_number": "+15550100123",
        "whatsapp_number": None,
    }
    cleared = parse(
        {"identity_secret": None, "alert_webhook_url": None, "business_hours": None},
        production=False,
        creating=False,
    )
    assert cleared == {"identity_secret": None, "alert_webhook_url": "", "business_hours": None}


def test_allowed_internal_webhook_hosts_are_accepted() -> None:
    """A host on the operator's egress allow-list may be named; others stay refused."""
    egress = Egress(["127.0.0.1", "hooks.internal"])
    for url in ("http://127.0.0.1:9000/hook", "https://hooks.internal/x"):
        clean = parse({"alert_webhook_url": url}, production=True, creating=False, egress=egress)
        assert clean == {"alert_webhook_url": url}
    with pytest.raises(Invalid):
        parse(
            {"alert_webhook_url": "http://10.0.0.1/"},
            production=True,
            creating=False,
            egress=egress,
        )


def test_creating_needs_a_name() -> None:
    """A new site without a name is refused naming `name`."""
    with pytest.raises(Invalid) as refused:
        parse({"greeting": "Hi"}, production=False, creating=True)
    assert refused.value.field == "name"
