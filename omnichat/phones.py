"""Phone numbers in E.164 (`+15550100123`), the one form we store, compare and send to.

People type numbers the way they dial them: "0161 496 0000" in Manchester, "(415) 555-0100" in
San Francisco. A number without its international prefix (`+` or `00`) is read in a country:
the site's `default_country` (else the server's `[sites] default_country`); with neither, only
international numbers are accepted. Google's libphonenumber data (`phonenumbers`) knows each
country's calling code, trunk prefix and lengths; we accept any number of a possible length, not
only ranges in service, so test numbers and new ranges pass. Twilio always sends E.164.
"""

from __future__ import annotations

import re

import phonenumbers

from omnichat.errors import Invalid

WHATSAPP_PREFIX = "whatsapp:"
# Spaces, dots, dashes and parentheses people type between digit groups.
SEPARATORS = re.compile(r"[\s().\-]")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# ISO 3166-1 alpha-2 codes of the countries the library has numbering plans for.
COUNTRIES: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)
MAX_TYPED = 40


def normalise(text: str, country: str | None = None) -> str | None:
    """`text` as E.164, or None when it is not a phone number (national ones read in `country`)."""
    typed = text.strip()
    if not typed or len(typed) > MAX_TYPED:
        return None
    compact = SEPARATORS.sub("", typed)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+") and country not in COUNTRIES:
        return None
    try:
        number = phonenumbers.parse(compact, None if compact.startswith("+") else country)
    except phonenumbers.NumberParseException:
        return None
    # "Local only" lengths (555-1234 in the US) cannot be dialled from elsewhere: refused.
    possible = phonenumbers.is_possible_number_with_reason(number)
    if number.extension or possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted if E164.match(formatted) else None


def example(country: str | None) -> str:
    """How to type a number, for error messages: a national example of `country` and an
    international one."""
    international = "+1 415 555 0100"
    found = phonenumbers.example_number(country) if country in COUNTRIES else None
    if found is None or country == "US":
        return international if country is None else f"{international} or (415) 555-0100"
    national = phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.NATIONAL)
    return f"{national} or {international}"


def require(field: str, text: object, country: str | None = None) -> str:
    """`text` as E.164, or `Invalid` naming `field` with an example of what to type."""
    number = normalise(text, country) if isinstance(text, str) else None
    if number is None and country in COUNTRIES:
        raise Invalid(field, f"enter a phone number such as {example(country)}")
    if number is None:
        raise Invalid(field, f"enter a phone number with its country code, such as {example(None)}")
    return number


def parse_country(field: str, value: object) -> str | None:
    """An ISO 3166 alpha-2 country code (any case) as upper case; None or "" clears it."""
    if value is None or value == "":
        return None
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in COUNTRIES:
        raise Invalid(field, "must be a two-letter country code such as US or GB")
    return code


def split_address(address: str) -> tuple[str, str | None]:
    """A Twilio address (`+1555...` or `whatsapp:+1555...`) as (channel, E.164 number or None)."""
    if address.lower().startswith(WHATSAPP_PREFIX):
        return "whatsapp", normalise(address[len(WHATSAPP_PREFIX) :])
    return "sms", normalise(address)


def address(channel: str, number: str) -> str:
    """The Twilio address of `number` on `channel`."""
    return WHATSAPP_PREFIX + number if channel == "whatsapp" else number
