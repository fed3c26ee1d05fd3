"""Phone numbers in E.164 (`+15550100123`), the one form we store, compare and send to.

We do not guess a country: a number must carry its international prefix (`+` or `00`). Twilio
always sends E.164; admins typing alert or site numbers get a clear error instead of a guess.
"""

from __future__ import annotations

import re

from omnichat.errors import Invalid

WHATSAPP_PREFIX = "whatsapp:"
# Spaces, dots, dashes and parentheses people type between digit groups.
SEPARATORS = re.compile(r"[\s().\-]")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalise(text: str) -> str | None:
    """`text` as E.164, or None when it is not an international phone number."""
    number = SEPARATORS.sub("", text.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    return number if E164.match(number) else None


def require(field: str, text: object) -> str:
    """`text` as E.164, or `Invalid` naming `field`."""
    number = normalise(text) if isinstance(text, str) else None
    if number is None:
        raise Invalid(field, "must be a phone number in international form, like +15550100123")
    return number


def split_address(address: str) -> tuple[str, str | None]:
    """A Twilio address (`+1555...` or `whatsapp:+1555...`) as (channel, E.164 number or None)."""
    if address.lower().startswith(WHATSAPP_PREFIX):
        return "whatsapp", normalise(address[len(WHATSAPP_PREFIX) :])
    return "sms", normalise(address)


def address(channel: str, number: str) -> str:
    """The Twilio address of `number` on `channel`."""
    return WHATSAPP_PREFIX + number if channel == "whatsapp" else number
