"""Validation of what staff may set on a site: every field checked, errors naming the field.

`parse` turns a JSON object (a POST or a PATCH) into a dict of clean values, keyed by the Site
field names of the contract; `sites.create_site` / `sites.update_site` store them.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from omnichat import phones
from omnichat.chat.business_hours import WEEKDAYS
from omnichat.egress import Egress, EgressRefused
from omnichat.emails import parse_email
from omnichat.errors import Invalid
from omnichat.sites import NUMBER_FIELDS, PRECHAT_FIELDS

MAX_NAME = 100
MAX_TEXT = 1000
MAX_ORIGINS = 100
MAX_ALERT_NUMBERS = 10
MAX_ALERT_EMAILS = 10
MAX_URL = 2000
MAX_ON_CALL = 20
ON_CALL_KEYS = frozenset({"name", "days", "start", "end", "numbers", "emails"})
IDENTITY_SECRET_LENGTH = (16, 256)
TEXTS = ("greeting", "patience_text", "escalate_text", "followup_text", "away_text")
# Upper bounds that catch typos (seconds typed as milliseconds) without limiting real use.
NUMBERS = {
    "patience_seconds": 86400,
    "escalate_seconds": 86400,
    "auto_close_minutes": 43200,
    "max_open_per_agent": 1000,
}
FLAGS = ("auto_assign", "hide_content")
READ_ONLY = frozenset({"id", "site_key", "snippet", "has_identity_secret"})
MAX_INTERVALS_PER_DAY = 4
LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"^{LABEL}(\.{LABEL})*$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Without the operator's allow-list, no internal destination is allowed.
NO_EXCEPTIONS = Egress()


def parse(
    data: dict[str, Any],
    *,
    production: bool,
    creating: bool,
    egress: Egress = NO_EXCEPTIONS,
    country: str | None = None,
) -> dict[str, Any]:
    """Clean values for the fields present in `data`; `Invalid` names the first bad field.

    `egress` says which internal hosts a webhook URL may name (the operator's allow-list);
    `country` is where national phone numbers are read, unless `data` sets `default_country`.
    """
    clean: dict[str, Any] = {}
    if "default_country" in data:
        country = clean["default_country"] = phones.parse_country(
            "default_country", data["default_country"]
        )
    for key, value in data.items():
        if key in READ_ONLY:
            raise Invalid(key, "is read-only")
        if key == "default_country":
            continue
        if key == "name":
            clean[key] = _text(key, value, MAX_NAME)
        elif key == "allowed_origins":
            clean[key] = parse_origins(value, production)
        elif key == "identity_secret":
            clean[key] = _identity_secret(value)
        elif key in TEXTS:
            clean[key] = _text(key, value, MAX_TEXT)
        elif key in NUMBERS:
            clean[key] = _number(key, value, NUMBERS[key])
        elif key in FLAGS:
            clean[key] = _flag(key, value)
        elif key == "business_hours":
            clean[key] = parse_business_hours(value)
        elif key in NUMBER_FIELDS:
            # The Twilio numbers texts arrive on; each belongs to one site across all tenants.
            clean[key] = None if value in (None, "") else phones.require(key, value, country)
        elif key == "alert_numbers":
            clean[key] = _alert_numbers(value, country)
        elif key == "alert_emails":
            clean[key] = _alert_emails(value)
        elif key == "on_call":
            clean[key] = parse_on_call(value, country)
        elif key == "alert_webhook_url":
            clean[key] = _webhook_url(value, egress)
        elif key == "prechat":
            clean[key] = parse_prechat(value)
        elif key == "ratings":
            if not isinstance(value, bool):
                raise Invalid(key, "must be true or false")
            clean[key] = value
        else:
            raise Invalid(key, "is not a site field")
    if creating and "name" not in clean:
        raise Invalid("name", "is required")
    return clean


def _text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= limit:
        raise Invalid(field, f"must be text of 1 to {limit} characters")
    return value.strip()


def _number(field: str, value: Any, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise Invalid(field, f"must be a whole number from 0 to {limit}")
    return value


def _flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(field, "must be true or false")
    return value


def parse_origins(value: Any, production: bool) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ORIGINS:
        raise Invalid("allowed_origins", f"must be a list of at most {MAX_ORIGINS} origins")
    origins: list[str] = []
    for item in value:
        origin = parse_origin(item, production)
        if origin not in origins:
            origins.append(origin)
    return origins


def parse_origin(value: Any, production: bool) -> str:
    """`scheme://host[:port]`, lower-cased, default port and a bare trailing `/` dropped.

    That is exactly how browsers write the Origin header, so comparison is plain equality.
    """
    if value == "*":
        if production:
            raise Invalid("allowed_origins", "'*' is refused in production; list each origin")
        return "*"
    wrong = Invalid("allowed_origins", f"{str(value)[:100]!r} is not scheme://host[:port]")
    if not isinstance(value, str) or len(value) > 300:
        raise wrong
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise wrong from None
    host = parts.hostname or ""
    if (
        parts.scheme.lower() not in DEFAULT_PORTS
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or not _is_host(host)
    ):
        raise wrong
    scheme = parts.scheme.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"


def _is_host(host: str) -> bool:
    if HOSTNAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _identity_secret(value: Any) -> str | None:
    low, high = IDENTITY_SECRET_LENGTH
    if value is None:
        return None
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise Invalid("identity_secret", f"must be {low} to {high} characters, or null to remove")
    return value


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_business_hours(value: Any) -> dict[str, Any] | None:
    """None (always open) or {"timezone": IANA name, "days": {"mon": [["09:00", "17:00"]]...}}."""
    if value is None:
        return None
    field = "business_hours"
    if not isinstance(value, dict) or set(value) != {"timezone", "days"}:
        raise Invalid(field, 'must be null or {"timezone", "days"}')
    if value["timezone"] not in _timezones():
        raise Invalid(field, "timezone must be an IANA time zone such as Europe/Paris")
    days = value["days"]
    if not isinstance(days, dict) or not set(days) <= set(WEEKDAYS):
        raise Invalid(field, f"days must be an object keyed by {', '.join(WEEKDAYS)}")
    clean: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        intervals = days.get(day, [])
        if not isinstance(intervals, list) or len(intervals) > MAX_INTERVALS_PER_DAY:
            raise Invalid(field, f"{day} must be a list of at most {MAX_INTERVALS_PER_DAY} ranges")
        for interval in intervals:
            if (
                not isinstance(interval, list)
                or len(interval) != 2
                or not all(isinstance(t, str) and CLOCK.match(t) for t in interval)
                or interval[0] >= interval[1]
            ):
                raise Invalid(field, f'{day} ranges must look like ["09:00", "17:30"], start first')
        if intervals:
            clean[day] = [list(interval) for interval in intervals]
    return {"timezone": value["timezone"], "days": clean}


def parse_prechat(value: Any) -> dict[str, Any]:
    """{"enabled": bool, "fields": [...], "required": [...]}: fields a subset of name, email,
    phone (kept in that order), required a subset of fields."""
    field = "prechat"
    if not isinstance(value, dict) or not set(value) <= {"enabled", "fields", "required"}:
        raise Invalid(field, 'must be {"enabled", "fields", "required"}')
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        raise Invalid("prechat.enabled", "must be true or false")
    chosen: dict[str, list[str]] = {}
    for key in ("fields", "required"):
        items = value.get(key, [])
        if not isinstance(items, list) or not all(item in PRECHAT_FIELDS for item in items):
            raise Invalid(f"prechat.{key}", f"must be a list of {', '.join(PRECHAT_FIELDS)}")
        chosen[key] = [name for name in PRECHAT_FIELDS if name in items]
    if not set(chosen["required"]) <= set(chosen["fields"]):
        raise Invalid("prechat.required", "must list only fields the form asks for")
    if enabled and not chosen["fields"]:
        raise Invalid("prechat.fields", "must name at least one field when the form is enabled")
    return {"enabled": enabled, **chosen}


def parse_on_call(value: Any, country: str | None) -> list[dict[str, Any]]:
    """At most 20 windows {"name", "days", "start", "end", "numbers", "emails"}; names unique,
    days weekday numbers (Monday 0), times HH:MM ("24:00" only as an end; an end before the
    start crosses midnight), and at least one number or address each."""
    if not isinstance(value, list) or len(value) > MAX_ON_CALL:
        raise Invalid("on_call", f"must be a list of at most {MAX_ON_CALL} windows")
    windows: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        at = f"on_call[{index}]"
        if not isinstance(item, dict) or not set(item) <= ON_CALL_KEYS:
            raise Invalid(at, f"must be an object of {', '.join(sorted(ON_CALL_KEYS))}")
        name = _text(f"{at}.name", item.get("name"), MAX_NAME)
        if any(window["name"] == name for window in windows):
            raise Invalid(f"{at}.name", "must differ from the other windows' names")
        days = item.get("days")
        if (
            not isinstance(days, list)
            or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days)
        ):
            raise Invalid(f"{at}.days", "must list weekdays as numbers 0 (Monday) to 6 (Sunday)")
        times: dict[str, str] = {}
        for key in ("start", "end"):
            clock = item.get(key)
            if not isinstance(clock, str) or not CLOCK.match(clock):
                raise Invalid(f"{at}.{key}", 'must be a time such as "09:00" ("24:00" ends a day)')
            times[key] = clock
        if times["start"] == "24:00" or times["start"] == times["end"]:
            raise Invalid(f"{at}.start", "must be before 24:00 and differ from the end")
        numbers = _alert_numbers(item.get("numbers", []), country, f"{at}.numbers")
        emails = _alert_emails(item.get("emails", []), f"{at}.emails")
        if not numbers and not emails:
            raise Invalid(f"{at}.numbers", "a window needs at least one number or email")
        windows.append(
            {
                "name": name,
                "days": sorted(set(days)),
                **times,
                "numbers": numbers,
                "emails": emails,
            }
        )
    return windows


def _alert_numbers(value: Any, country: str | None, field: str = "alert_numbers") -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ALERT_NUMBERS:
        raise Invalid(field, f"must be a list of at most {MAX_ALERT_NUMBERS} numbers")
    numbers: list[str] = []
    for item in value:
        # People paste numbers with spaces and dashes, or in national form; store E.164.
        number = phones.require(field, item, country)
        if number not in numbers:
            numbers.append(number)
    return numbers


def _alert_emails(value: Any, field: str = "alert_emails") -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ALERT_EMAILS:
        raise Invalid(field, f"must be a list of at most {MAX_ALERT_EMAILS} addresses")
    addresses: list[str] = []
    for item in value:
        address = parse_email(item, field)
        if address.lower() not in (known.lower() for known in addresses):
            addresses.append(address)
    return addresses


def _webhook_url(value: Any, egress: Egress) -> str:
    if value is None or value == "":
        return ""
    wrong = Invalid("alert_webhook_url", "must be an http(s) URL, or null to remove")
    if not isinstance(value, str) or len(value) > MAX_URL:
        raise wrong
    try:
        parts = urlsplit(value.strip())
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise wrong from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not _is_host(parts.hostname or ""):
        raise wrong
    try:
        # The literal check; what a name resolves to is checked again at each delivery.
        egress.check_url(value.strip())
    except EgressRefused as refused:
        raise Invalid(
            "alert_webhook_url",
            f"must not point inside the server's network ({refused}); the operator can allow"
            " a host with [egress] allow_hosts",
        ) from None
    return value.strip()
