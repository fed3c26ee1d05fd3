"""Pure pieces of the Twilio channel: signatures, phone numbers, masking and the settings check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from omnichat import phones
from omnichat.logs import mask_phone
from omnichat.settings import Secret, SettingsError, TwilioSettings
from omnichat.twilio import signature
from omnichat.twilio.incoming import Text
from omnichat.twilio.sender import describe
from tests.servers import ROOT, server_env

# Twilio's own published test vector (twilio-python tests/unit/test_request_validator.py).
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
TOKEN = "12345"


def test_signature_matches_twilios_test_vector() -> None:
    """Our HMAC-SHA1 over URL and sorted parameters equals Twilio's published signature."""
    assert signature.compute(URL, PARAMS.items(), TOKEN) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature.verify(URL, PARAMS.items(), TOKEN, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_repeated_parameters_sign_like_twilio() -> None:
    """A key sent twice signs each value, values sorted, as Twilio's helpers do."""
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert signature.compute(URL, params, TOKEN) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_parameter_order_does_not_matter_but_every_byte_does() -> None:
    """Reordered parameters verify; a changed value, URL, token or missing header do not."""
    good = signature.compute(URL, PARAMS.items(), TOKEN)
    assert signature.verify(URL, reversed(list(PARAMS.items())), TOKEN, good)
    assert not signature.verify(URL, {**PARAMS, "Digits": "1235"}.items(), TOKEN, good)
    assert not signature.verify(URL + "&x=1", PARAMS.items(), TOKEN, good)
    assert not signature.verify(URL.replace("https", "http"), PARAMS.items(), TOKEN, good)
    assert not signature.verify(URL, PARAMS.items(), "54321", good)
    assert not signature.verify(URL, PARAMS.items(), TOKEN, None)
    assert not signature.verify(URL, PARAMS.items(), TOKEN, "")
    assert not signature.verify(URL, PARAMS.items(), "", good)


def test_default_port_may_be_added_or_removed() -> None:
    """Twilio may sign the URL with or without the scheme's default port; both verify."""
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    signed_with_port = signature.compute(with_port, PARAMS.items(), TOKEN)
    assert signature.verify(URL, PARAMS.items(), TOKEN, signed_with_port)
    signed_without = signature.compute(URL, PARAMS.items(), TOKEN)
    assert signature.verify(with_port, PARAMS.items(), TOKEN, signed_without)
    other_port = "https://mycompany.com:8443/myapp.php?foo=1&bar=2"
    assert not signature.verify(other_port, PARAMS.items(), TOKEN, signed_without)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("+1 (555) 010-0123", "+15550100123"),
        ("0033 6 12 34 56 78", "+33612345678"),
        ("+44.20.7946.0958", "+442079460958"),
        ("5550100123", None),
        ("+0123456789", None),
        ("+1555", None),
        ("+1234567890123456", None),
        ("call me", None),
        ("", None),
    ],
)
def test_phone_numbers_normalise_to_e164_or_nothing(typed: str, expected: str | None) -> None:
    """Typed numbers become E.164 when they carry an international prefix; nothing is guessed."""
    assert phones.normalise(typed) == expected


def test_twilio_addresses_name_their_channel() -> None:
    """`whatsapp:` addresses are WhatsApp; bare numbers SMS; and back again."""
    assert phones.split_address("whatsapp:+15550100123") == ("whatsapp", "+15550100123")
    assert phones.split_address("+15550100123") == ("sms", "+15550100123")
    assert phones.split_address("ACME") == ("sms", None)
    assert phones.address("whatsapp", "+15550100123") == "whatsapp:+15550100123"
    assert phones.address("sms", "+15550100123") == "+15550100123"


def test_logged_phone_numbers_are_masked() -> None:
    """Only the country prefix and the last two digits of a number reach a log line."""
    assert mask_phone("+15550100123") == "+15*******23"
    assert mask_phone("12345") == "*****"
    assert mask_phone(None) == ""


def test_incoming_text_keeps_media_links_and_refuses_bad_senders() -> None:
    """Media URLs follow the body, one a line; non-https links are dropped; From must be E.164."""
    text = Text.parse(
        {
            "MessageSid": "SM1",
            "From": "whatsapp:+15550100123",
            "To": "whatsapp:+15550009001",
            "Body": "  look  ",
            "NumMedia": "3",
            "MediaUrl0": "https://api.twilio.com/media/1",
            "MediaUrl1": "javascript:alert(1)",
            "MediaUrl2": "https://api.twilio.com/media/3",
            "ProfileName": "Ann",
        }
    )
    assert text.channel == "whatsapp" and text.profile_name == "Ann"
    assert text.text() == "look"
    assert text.media == ("https://api.twilio.com/media/1", "https://api.twilio.com/media/3")
    empty = Text.parse({"MessageSid": "SM2", "From": "+15550100123", "To": "+15550009000"})
    assert empty.text() == "(empty message)"
    long = Text.parse(
        {"MessageSid": "SM3", "From": "+15550100123", "To": "+15550009000", "Body": "x" * 5000}
    )
    assert len(long.text()) == 4000
    with pytest.raises(Exception, match="phone numbers"):
        Text.parse({"MessageSid": "SM4", "From": "ACME", "To": "+15550009000"})
    with pytest.raises(Exception, match="different channels"):
        Text.parse({"MessageSid": "SM5", "From": "whatsapp:+15550100123", "To": "+15550009000"})


def test_check_says_whether_texts_are_on() -> None:
    """All unset is off; all set is on; partly set or a bad public URL is an error naming it."""
    assert "off" in describe(TwilioSettings())
    full = TwilioSettings(
        account_sid="AC1", auth_token=Secret("t"), public_base_url="https://chat.example.org/"
    )
    assert "https://chat.example.org/webhooks/twilio" in describe(full)
    with pytest.raises(SettingsError, match=r"twilio\.auth_token"):
        describe(TwilioSettings(account_sid="AC1", public_base_url="https://x.example"))
    with pytest.raises(SettingsError, match="public_base_url"):
        describe(TwilioSettings(account_sid="AC1", auth_token=Secret("t"), public_base_url="x"))


def test_check_command_reports_texts_off_or_partly_configured(tmp_path: Path) -> None:
    """`run.py check` says texts are off, or fails in one line naming the missing setting."""
    env = {**os.environ, **server_env(tmp_path / "data")}
    off = subprocess.run(
        [sys.executable, "run.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert off.returncode == 0 and "SMS and WhatsApp: off" in off.stdout
    env["OMNICHAT_TWILIO_ACCOUNT_SID"] = "AC123"
    partly = subprocess.run(
        [sys.executable, "run.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert partly.returncode == 1
    assert partly.stderr.strip().splitlines() == [
        "omnichat: error: twilio is partly configured: twilio.auth_token,"
        " twilio.public_base_url missing (set them, or clear the others to turn SMS and"
        " WhatsApp off)"
    ]
