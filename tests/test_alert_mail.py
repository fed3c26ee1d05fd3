"""Escalation alerts mailed to a site's `alert_emails`, through a real SMTP server on loopback,
under the same per-site throttle as the SMS and webhook alerts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.agents import visitor_says
from tests.app_server import AppServer
from tests.escalations import make_site
from tests.mailbox import Mailbox
from tests.staff import sign_in_owner
from tests.timing import UNIT, eventually

INTERVAL = 3 * UNIT


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def mail_app(start_app: Callable[..., AppServer], mailbox: Mailbox) -> AppServer:
    return start_app(**mailbox.env(), OMNICHAT_ALERTS_MIN_INTERVAL_SECONDS=str(INTERVAL))


def test_escalations_mail_each_alert_address_then_one_summary(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """Each alert address gets the escalation with a link to the conversation at once, and a
    second escalation within the site's interval only as one summary mail when it ends."""
    owner = sign_in_owner(mail_app)
    site = make_site(
        mail_app,
        owner,
        patience_seconds=0,
        escalate_seconds=1,
        alert_emails=["oncall@clinic.example", " Nurse@Clinic.Example ", "nurse@clinic.example"],
    )
    assert site["alert_emails"] == ["oncall@clinic.example", "Nurse@clinic.example"]
    _, first = visitor_says(mail_app, "I need help <now>", key=site["site_key"])
    started = time.monotonic()
    for address in ("oncall@clinic.example", "Nurse@clinic.example"):
        mail = eventually(lambda a=address: mailbox.to(a), 10 * UNIT, "the alert mail")[0]
        assert mail.subject.startswith("Omnichat alert:") and site["name"] in mail.subject
        text = mail.part("plain")
        link = f"https://chat.clinic.example/admin/conversations/{first['conversation_id']}"
        assert link in text and "<now>" not in text
    visitor_says(mail_app, "hello?", key=site["site_key"])
    summaries = eventually(
        lambda: (
            len(mailbox.to("oncall@clinic.example")) >= 2 and mailbox.to("oncall@clinic.example")
        ),
        INTERVAL + 10 * UNIT,
        "the summary mail",
    )
    assert time.monotonic() - started >= INTERVAL * 0.9
    assert "1 more visitor waiting with no answer" in summaries[1].part("plain")


def test_alert_emails_are_checked(mail_app: AppServer) -> None:
    """A site's alert addresses must be a short list of valid addresses (422 names the field)."""
    owner = sign_in_owner(mail_app)
    site = make_site(mail_app, owner)
    for bad in (
        ["not an address"],
        "oncall@clinic.example",
        [f"a{i}@x.example" for i in range(11)],
    ):
        answer = mail_app.http.patch(
            f"/api/v1/sites/{site['id']}", json={"alert_emails": bad}, headers=owner.headers
        )
        assert answer.status_code == 422, answer.text
        assert "alert_emails" in answer.json()["error"]["message"]
    kept = mail_app.http.get("/api/v1/sites", headers=owner.headers).json()["sites"]
    assert next(s for s in kept if s["id"] == site["id"])["alert_emails"] == []
