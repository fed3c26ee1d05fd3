"""SMS/WhatsApp delivery and texting settings on the admin page, in a real browser (Debian's
chromium through playwright), against a real server whose Twilio is a stand-in on loopback."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.timing import UNIT, eventually
from tests.twilio_standin import (
    PUBLIC,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    Answer,
    Sent,
    TwilioStandIn,
    new_phone,
    post_signed,
    text_params,
    twilio_env,
)


@dataclass
class Texting:
    server: ServerProcess
    standin: TwilioStandIn
    headers: dict[str, str]


def owner_headers(server: ServerProcess) -> dict[str, str]:
    response = server.http.post(
        "/api/v1/auth/login",
        json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def texting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Texting]:
    """A server with Twilio configured (the stand-in) and numbers on its first site."""
    standin = TwilioStandIn()
    standin.public_base = PUBLIC
    data_dir = tmp_path_factory.mktemp("delivery-browser") / "data"
    process = ServerProcess(data_dir, server_env(data_dir, **twilio_env(standin))).start()
    standin.forward_to = process
    headers = owner_headers(process)
    site = process.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    # No patience or escalation texts mid-test: they would take the stand-in's planned answers.
    process.http.patch(
        f"/api/v1/sites/{site['id']}",
        json={
            "sms_number": SMS_NUMBER,
            "whatsapp_number": WHATSAPP_NUMBER,
            "patience_seconds": 0,
            "escalate_seconds": 0,
        },
        headers=headers,
    ).raise_for_status()
    yield Texting(process, standin, headers)
    process.stop()
    standin.close()


OpenPage = Callable[[ServerProcess, str], Page]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Signs in to a server in a fresh context; no flow may open an alert/confirm dialog."""
    contexts = []
    dialogs: list[str] = []

    def open_page(server: ServerProcess, path: str) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(server.base_url + path)
        page.get_by_label("Email").fill(OWNER_EMAIL)
        page.get_by_label("Password").fill(OWNER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert dialogs == [], f"dialogs opened: {dialogs}"


def text_in(texting: Texting, phone: str, body: str, **extra: str) -> None:
    """The contact texts the site's SMS number; waits until the greeting was texted back."""
    before = len(texting.standin.accepted)
    response = post_signed(texting.server, text_params(phone, body, **extra))
    assert response.status_code == 200, response.text
    texting.standin.wait_for(before + 1)


def accepted_text(standin: TwilioStandIn, body: str) -> Sent:
    """The text the stand-in accepted with this body (waits for it)."""
    found = eventually(
        lambda: [sent for sent in list(standin.accepted) if sent.body == body],
        10 * UNIT,
        f"the stand-in to accept a text {body!r}",
    )
    return found[-1]


def reply(page: Page, phone: str, text: str) -> Locator:
    """Open the contact's conversation, send `text`, and return its message in the transcript."""
    page.locator(".conversation-list .row").filter(has_text=phone).click()
    page.get_by_label("Reply", exact=True).fill(text)
    page.get_by_label("Reply", exact=True).press("Enter")
    return page.get_by_role("log").get_by_role("article").filter(has_text=text)


def test_a_texted_reply_shows_its_delivery_moving_to_delivered(
    texting: Texting, open_page: OpenPage
) -> None:
    """A reply to an SMS contact shows each delivery state the stand-in's callbacks report, live,
    and `[media]` link lines of texts stored before MMS fetching show as links while other schemes
    stay text."""
    page = open_page(texting.server, "/admin")
    phone = new_phone()
    media = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    text_in(
        texting,
        phone,
        f"Photo of the dent\n[media] javascript:alert(1)\n[media] {media}",
    )
    row = page.locator(".conversation-list .row").filter(has_text=phone)
    expect(row.locator(".tag.channel")).to_have_text("SMS")

    text = "Yes, we repair dents " + uuid.uuid4().hex[:6]
    message = reply(page, phone, text)
    expect(page.locator(".pane-heading .tag.channel")).to_have_text("SMS")
    delivery = message.locator(".delivery")
    expect(delivery).to_have_text("Queued at Twilio")
    sent = accepted_text(texting.standin, text)
    assert sent.to == phone
    assert texting.standin.callback(sent, "sent") == 204
    expect(delivery).to_have_text("Sent")
    assert texting.standin.callback(sent, "delivered") == 204
    expect(delivery).to_have_text("Delivered")
    # A late "sent" never moves it back.
    assert texting.standin.callback(sent, "sent") == 204
    expect(delivery).to_have_text("Delivered")

    transcript = page.get_by_role("log")
    link = transcript.get_by_role("link", name=media)
    expect(link).to_have_attribute("href", media)
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(transcript).to_contain_text("[media] javascript:alert(1)")
    assert transcript.locator("a[href^='javascript']").count() == 0


def test_a_refused_text_shows_not_delivered_and_retry_sends_it(
    texting: Texting, open_page: OpenPage
) -> None:
    """A 400 from Twilio shows "Not delivered" with its error code on the message and its inbox
    row; Retry, with Twilio accepting again, sends it and the state moves on."""
    page = open_page(texting.server, "/admin")
    phone = new_phone()
    text_in(texting, phone, "Can you call me back?")
    texting.standin.plan(Answer(400, 21211, "The 'To' number is not a valid phone number."))

    text = "We will call at noon " + uuid.uuid4().hex[:6]
    message = reply(page, phone, text)
    delivery = message.locator(".delivery")
    expect(delivery).to_contain_text("Not delivered")
    expect(delivery).to_contain_text("Error 21211: The 'To' number is not a valid phone number.")
    row = page.locator(".conversation-list .row").filter(has_text=phone)
    expect(row.locator(".tag.not-delivered")).to_have_text("Not delivered")
    assert not [sent for sent in texting.standin.accepted if sent.body == text]

    message.get_by_role("button", name="Retry").click()
    expect(delivery).to_have_text("Queued at Twilio")
    assert accepted_text(texting.standin, text).to == phone
    expect(message.get_by_role("button", name="Retry")).to_have_count(0)
    expect(row.locator(".tag.not-delivered")).to_have_count(0)


def test_sites_screen_says_when_texting_is_off(server: ServerProcess, open_page: OpenPage) -> None:
    """On a server without Twilio settings the Sites screen says texting is off and lists the
    missing settings."""
    page = open_page(server, "/admin/sites")
    panel = page.get_by_role("region", name="SMS and WhatsApp")
    expect(panel).to_contain_text("Texting is off.")
    missing = panel.get_by_role("list", name="Missing settings").get_by_role("listitem")
    expect(missing).to_have_text(
        ["twilio.account_sid", "twilio.auth_token", "twilio.public_base_url"]
    )


def test_sites_screen_shows_texting_on_and_saves_numbers(
    texting: Texting, open_page: OpenPage
) -> None:
    """With Twilio set the Sites screen says texting is on with the webhook URL to paste; a
    site's SMS number saves, and a taken or malformed number is refused next to its field."""
    name = "Branch " + uuid.uuid4().hex[:6]
    texting.server.http.post(
        "/api/v1/sites", json={"name": name}, headers=texting.headers
    ).raise_for_status()
    page = open_page(texting.server, "/admin/sites")
    panel = page.get_by_role("region", name="SMS and WhatsApp")
    expect(panel).to_contain_text("Texting is on.")
    expect(panel.get_by_label("Twilio messaging webhook URL")).to_have_value(
        PUBLIC + "/webhooks/twilio"
    )

    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=name))
    card.get_by_role("button", name="Edit settings").click()
    sms = card.get_by_label("SMS number")
    whatsapp = card.get_by_label("WhatsApp number")
    sms.fill(SMS_NUMBER)
    card.get_by_role("button", name="Save").click()
    expect(sms).to_have_accessible_description("This number already belongs to another site")
    expect(sms).to_have_attribute("aria-invalid", "true")

    number = "+1555" + str(uuid.uuid4().int)[:7]
    sms.fill(number[:5] + " " + number[5:8] + "-" + number[8:])
    whatsapp.fill("12")
    card.get_by_role("button", name="Save").click()
    expect(whatsapp).to_have_accessible_description(re.compile("Enter a phone number"))
    expect(card.locator(".field-error").filter(has_text=re.compile("."))).to_have_count(1)

    whatsapp.fill("")
    card.get_by_role("button", name="Save").click()
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=name))
    expect(card.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(card.locator(".facts")).to_contain_text(f"SMS number{number}")
    expect(card.get_by_label("SMS number")).to_have_value(number)
    sites = texting.server.http.get("/api/v1/sites", headers=texting.headers).json()["sites"]
    assert [site["sms_number"] for site in sites if site["name"] == name] == [number]
