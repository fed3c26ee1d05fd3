"""The admin page's Webhooks screen on a phone-sized page, against the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.agents import visitor_says
from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, server_env
from tests.test_accessibility_browser import serious_violations
from tests.test_admin_browser import expect_inbox, sign_in
from tests.webhook_receiver import Receiver, verify


@pytest.fixture(scope="module")
def omnichat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose webhooks may reach loopback."""
    data_dir = tmp_path_factory.mktemp("hooks-ui") / "data"
    env = server_env(data_dir, OMNICHAT_EGRESS_ALLOW_HOSTS="127.0.0.1")
    process = ServerProcess(data_dir, env).start()
    yield process
    process.stop()


def test_an_admin_adds_a_webhook_and_resends_a_delivery(
    browser: Browser, omnichat: ServerProcess
) -> None:
    """On a 390 px screen an admin adds a webhook, copies the secret shown once, sees the
    delivery in the log and resends it; the receiver verifies both with that secret, and the
    screen has no serious axe finding."""
    receiver = Receiver().start()
    # CSP bypassed only so axe can be injected.
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    try:
        page = context.new_page()
        sign_in(page, omnichat, OWNER_EMAIL, OWNER_PASSWORD)
        expect_inbox(page)
        page.goto(omnichat.base_url + "/admin/webhooks")
        expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
        page.get_by_label("Receiver URL").fill(receiver.url)
        page.get_by_role("button", name="Add webhook").click()
        secret = page.get_by_label("Signing secret").input_value()
        assert secret.startswith("whsec_")
        card = page.get_by_role("article", name=f"Webhook {receiver.url}")
        expect(card).to_be_visible()
        visitor_says(omnichat, "hello from the widget")
        first = receiver.wait_for("conversation.created")[0]
        verify(secret, first.headers, first.body)
        card.get_by_role("button", name="Deliveries").click()
        resend = card.get_by_role("button", name=f"Resend delivery {first.delivery}")
        expect(resend).to_be_visible()
        expect(card.get_by_role("table")).to_contain_text("delivered")
        resend.click()
        again = receiver.wait_for("conversation.created", count=2)
        assert again[1].delivery == first.delivery
        verify(secret, again[1].headers, again[1].body)
        assert serious_violations(page, "webhooks") == []
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        page.reload()
        expect(card).to_be_visible()
        expect(page.get_by_label("Signing secret")).to_have_count(0)
    finally:
        context.close()
        receiver.stop()
