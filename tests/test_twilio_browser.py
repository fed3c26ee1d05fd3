"""Texts on the admin page, in a real browser (Debian's chromium through playwright)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.twilio_standin import (
    PUBLIC,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    TwilioStandIn,
    give_numbers,
    new_phone,
    post_signed,
    text_params,
    twilio_env,
)


@pytest.fixture(scope="module")
def texting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    standin = TwilioStandIn()
    standin.public_base = PUBLIC
    data_dir = tmp_path_factory.mktemp("twilio-browser") / "data"
    env = server_env(data_dir, **twilio_env(standin))
    process = ServerProcess(data_dir, env).start()
    give_numbers(process, SMS_NUMBER, WHATSAPP_NUMBER)
    yield process
    process.stop()
    standin.close()


def test_texts_appear_live_on_the_admin_page(texting: ServerProcess, browser: Browser) -> None:
    """An SMS and a WhatsApp text show up without a reload, tagged with their channel, and open
    to their transcript with the greeting that was texted back."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(texting.base_url + "/admin")
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()

    phone = new_phone()
    assert post_signed(texting, text_params(phone, "Do you deliver on Sundays?")).status_code == 200
    whatsapp = text_params(new_phone(), "<b>hello</b> from WhatsApp", "whatsapp", ProfileName="Zoë")
    assert post_signed(texting, whatsapp).status_code == 200

    sms_row = page.locator(".conversation-list .row").filter(has_text=phone)
    expect(sms_row).to_be_visible()
    expect(sms_row.locator(".tag").first).to_have_text("SMS")
    whatsapp_row = page.locator(".conversation-list .row").filter(has_text="Zoë")
    expect(whatsapp_row.locator(".tag").first).to_have_text("WhatsApp")

    sms_row.click()
    transcript = page.get_by_role("log")
    expect(transcript).to_contain_text("Do you deliver on Sundays?")
    expect(transcript).to_contain_text("Connecting you with a staff member, please wait...")
    whatsapp_row.click()
    # A contact's markup is shown as text, never rendered.
    expect(transcript).to_contain_text("<b>hello</b> from WhatsApp")
    assert page.locator("[role=log] b").count() == 0
    context.close()
