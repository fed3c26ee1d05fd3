"""Phone numbers typed in national form, read in the site's country; friendly errors."""

from __future__ import annotations

import pytest

from omnichat import phones
from omnichat.errors import Invalid
from tests.app_server import AppServer
from tests.escalations import make_site
from tests.staff import Account, unique_ip
from tests.visitors import bearer, new_session


@pytest.mark.parametrize(
    ("typed", "country", "expected"),
    [
        ("0161 496 0000", "GB", "+441614960000"),
        ("07700 900123", "GB", "+447700900123"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("+33 6 12 34 56 78", "GB", "+33612345678"),
        ("0033 6 12 34 56 78", None, "+33612345678"),
        ("0161 496 0000", None, None),
        ("555-1234", "US", None),
        ("+1 415 555 0100 ext. 5", None, None),
        ("call me", "GB", None),
    ],
)
def test_numbers_read_in_a_country(typed: str, country: str | None, expected: str | None) -> None:
    """National numbers need a country; international ones do not; local-only ones never pass."""
    assert phones.normalise(typed, country) == expected


def test_errors_name_the_field_and_show_an_example() -> None:
    """A refused number says what to type, with an example of the country when there is one."""
    with pytest.raises(Invalid) as info:
        phones.require("phone", "12", "GB")
    assert str(info.value) == "phone: enter a phone number such as 0121 234 5678 or +1 415 555 0100"
    with pytest.raises(Invalid) as info:
        phones.require("alert_numbers", "0161 496 0000")
    assert str(info.value).startswith("alert_numbers: enter a phone number with its country code")


def patch(app: AppServer, owner: Account, site_id: int, **changes: object) -> dict[str, object]:
    response = app.http.patch(f"/api/v1/sites/{site_id}", json=changes, headers=owner.headers)
    return {"status": response.status_code, **response.json()}


def test_site_country_is_validated_and_reads_its_numbers(app: AppServer, owner: Account) -> None:
    """default_country takes ISO codes (any case), refuses others naming the field, and the
    site's SMS and alert numbers typed nationally are stored in E.164."""
    site = make_site(app, owner)
    assert site["default_country"] is None
    answer = patch(app, owner, site["id"], default_country="gb")
    assert answer["status"] == 200 and answer["site"]["default_country"] == "GB"  # type: ignore[index]
    refused = patch(app, owner, site["id"], default_country="XX")
    assert refused["status"] == 422
    assert refused["error"]["message"].startswith("default_country:")  # type: ignore[index]
    saved = patch(app, owner, site["id"], alert_numbers=["07700 900123"])
    assert saved["site"]["alert_numbers"] == ["+447700900123"]  # type: ignore[index]
    # The country set in the same request reads the numbers of that request.
    both = patch(app, owner, site["id"], default_country="US", alert_numbers=["(415) 555-0100"])
    assert both["site"]["alert_numbers"] == ["+14155550100"]  # type: ignore[index]
    bad = patch(app, owner, site["id"], alert_numbers=["12"])
    assert bad["status"] == 422
    assert bad["error"]["message"] == (  # type: ignore[index]
        "alert_numbers: enter a phone number such as +1 415 555 0100 or (415) 555-0100"
    )


def followup(app: AppServer, site_key: str, phone: str) -> dict[str, object]:
    address = {"X-Forwarded-For": unique_ip()}
    token = new_session(app, site_key=site_key, **address)["token"]
    response = app.http.post(
        "/api/v1/widget/followup",
        json={"name": "Ann", "phone": phone, "message": "Please call me back"},
        headers={**bearer(token), **address},
    )
    return {"status": response.status_code, **response.json()}


def test_widget_followup_reads_phone_in_the_sites_country(app: AppServer, owner: Account) -> None:
    """A visitor's national number is stored in E.164 in the site's country; a wrong one gets
    a 422 that names the phone field and shows how to type it."""
    site = make_site(app, owner, default_country="GB")
    stored = followup(app, site["site_key"], "07700 900123")
    assert stored["status"] == 201
    assert stored["followup"]["phone"] == "+447700900123"  # type: ignore[index]
    refused = followup(app, site["site_key"], "0770")
    assert refused["status"] == 422
    assert refused["error"]["message"] == (  # type: ignore[index]
        "phone: enter a phone number such as 0121 234 5678 or +1 415 555 0100"
    )
    # Without a country, a national number is refused with the international example.
    other = make_site(app, owner)
    plain = followup(app, other["site_key"], "07700 900123")
    assert plain["status"] == 422
    assert "with its country code" in plain["error"]["message"]  # type: ignore[index]
