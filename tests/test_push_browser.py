"""A push delivered to the admin app's service worker in Chromium through the DevTools protocol
(`ServiceWorker.deliverPushMessage`): it shows a notification, and its click opens the
conversation in the open admin tab."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Browser, expect

from tests.agents import visitor_says
from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ServerProcess
from tests.test_admin_browser import expect_inbox, sign_in
from tests.timing import UNIT, eventually

NOTIFICATIONS = (
    # getRegistration, not `ready`: `ready` waits for the worker to control this very page.
    "navigator.serviceWorker.getRegistration('/admin/').then((r) => r.getNotifications())"
    ".then((all) => all.map((n) =>"
    " ({title: n.title, body: n.body, tag: n.tag, path: n.data && n.data.path})))"
)
# DevTools has no command that clicks a notification: the test runs the worker's own
# `notificationclick` handler with the notification it shows.
CLICK = (
    "self.registration.getNotifications().then(([shown]) => {"
    " try { self.dispatchEvent(new NotificationEvent('notificationclick',"
    " {notification: shown})); } catch (e) {} return shown.tag; })"
)


def test_a_pushed_notification_shows_and_its_click_opens_the_conversation(
    start_server: Callable[..., ServerProcess], browser: Browser
) -> None:
    """A push reaching the registered service worker shows its title, body and tag, and
    clicking the notification takes the open admin tab to the conversation."""
    server = start_server()
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=server.base_url)
    try:
        page = context.new_page()
        sign_in(page, server, OWNER_EMAIL, OWNER_PASSWORD)
        expect_inbox(page)
        cid = int(visitor_says(server, "hello from the waiting room")[1]["conversation_id"])
        registrations: list[dict[str, Any]] = []
        cdp = context.new_cdp_session(page)
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(event["registrations"]),
        )
        cdp.send("ServiceWorker.enable")

        def registered() -> str | None:
            page.wait_for_timeout(20)  # lets playwright hand over the DevTools events
            scope = server.base_url + "/admin/"
            found = [r for r in registrations if r["scopeURL"] == scope and not r["isDeleted"]]
            return str(found[-1]["registrationId"]) if found else None

        registration = eventually(registered, 10 * UNIT, "the admin service worker")
        pushed = {
            "title": "New conversation",
            "body": "On Default site",
            "url": f"/admin/conversations/{cid}",
            "tag": f"c-{cid}",
            "event": "new_conversation",
        }
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": server.base_url, "registrationId": registration, "data": json.dumps(pushed)},
        )
        shown = eventually(lambda: page.evaluate(NOTIFICATIONS), 10 * UNIT, "a notification")
        assert shown == [
            {
                "title": "New conversation",
                "body": "On Default site",
                "tag": f"c-{cid}",
                "path": f"/admin/conversations/{cid}",
            }
        ]
        worker = eventually(lambda: context.service_workers, 10 * UNIT, "the worker")[0]
        assert worker.evaluate(CLICK) == f"c-{cid}"
        expect(page).to_have_url(re.compile(f"/admin/conversations/{cid}$"))
        assert page.evaluate(NOTIFICATIONS) == []  # the click closed it
    finally:
        context.close()
