"""Staff replies mailed to visitors who left, through a real SMTP server on loopback, and the
signed unsubscribe link."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

from tests.agents import reply, visitor_says
from tests.app_server import AppServer
from tests.mailbox import Mailbox, Received
from tests.staff import Account, sign_in_owner, unique_email, unique_ip
from tests.timing import UNIT, eventually
from tests.visitors import bearer, default_site_key, next_frame, visitor_socket

BATCH = 1.0 * UNIT


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def mail_app(start_app: Callable[..., AppServer], mailbox: Mailbox) -> AppServer:
    return start_app(**mailbox.env(), OMNICHAT_EMAIL_VISITOR_BATCH_SECONDS=str(BATCH))


def visitor_with_email(app: AppServer, name: str = "Pat") -> tuple[str, int, str]:
    """A visitor who wrote once over HTTP and gave an address; returns token, conversation id
    and address."""
    address = unique_email("visitor")
    token, first = visitor_says(app, "is the clinic open on Saturday?")
    told = app.http.post(
        "/api/v1/widget/identify",
        json={"name": name, "email": address},
        headers={**bearer(token), "X-Forwarded-For": unique_ip()},
    )
    assert told.status_code == 200, told.text
    return token, int(first["conversation_id"]), address


def mails_after_batch(mailbox: Mailbox, address: str) -> list[Received]:
    """What reached `address` once a batch (and then some) has passed."""
    time.sleep(BATCH * 3)
    return mailbox.to(address)


def unsubscribe_url(mail: Received) -> str:
    match = re.search(r"https://chat\.clinic\.example(/mail/unsubscribe\?\S+)", mail.part("plain"))
    assert match, mail.part("plain")
    return match.group(1)


def test_replies_are_batched_into_one_mail_without_private_notes(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """A visitor who left gets one mail carrying both staff replies (escaped in HTML), a link
    that reopens the chat on the hosted page and an unsubscribe link, but never a private note."""
    owner = sign_in_owner(mail_app)
    _, cid, address = visitor_with_email(mail_app)
    assert reply(mail_app, owner, cid, "Yes, <b>9 to 12</b>.").status_code == 201
    assert reply(mail_app, owner, cid, "SECRET note about Pat", private=True).status_code == 201
    assert reply(mail_app, owner, cid, "Bring your card.").status_code == 201
    eventually(lambda: mailbox.to(address), 10 * UNIT, "the reply mail")
    mails = mails_after_batch(mailbox, address)
    assert len(mails) == 1
    mail = mails[0]
    text, page = mail.part("plain"), mail.part("html")
    assert "Yes, <b>9 to 12</b>." in text and "Bring your card." in text
    assert "Yes, &lt;b&gt;9 to 12&lt;/b&gt;." in page and "<b>9 to 12" not in page
    assert "SECRET" not in text and "SECRET" not in page
    key = default_site_key(mail_app)
    assert f"https://chat.clinic.example/chat/{key}" in text
    assert mail.message["List-Unsubscribe"]
    hosted = mail_app.http.get(f"/chat/{key}")
    assert hosted.status_code == 200
    assert f'data-site="{key}" data-open' in hosted.text
    # A later reply is a new batch: one more mail, with only the new reply.
    assert reply(mail_app, owner, cid, "See you then.").status_code == 201
    eventually(lambda: len(mailbox.to(address)) == 2, 10 * UNIT, "the second mail")
    second = mailbox.to(address)[1].part("plain")
    assert "See you then." in second and "Bring your card." not in second


def test_only_private_notes_mail_nothing(mail_app: AppServer, mailbox: Mailbox) -> None:
    """Private notes alone never produce a mail to the visitor."""
    owner = sign_in_owner(mail_app)
    _, cid, address = visitor_with_email(mail_app)
    assert reply(mail_app, owner, cid, "note: call back", private=True).status_code == 201
    assert mails_after_batch(mailbox, address) == []


async def test_a_visitor_with_the_chat_open_gets_no_mail(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """Replies reaching an open visitor socket are not mailed."""
    owner = sign_in_owner(mail_app)
    token, cid, address = visitor_with_email(mail_app)
    async with visitor_socket(mail_app, token) as (ws, _):
        assert reply(mail_app, owner, cid, "Here you are.").status_code == 201
        assert (await next_frame(ws, "message"))["message"]["text"] == "Here you are."
        assert mails_after_batch(mailbox, address) == []


def test_unsubscribe_link_confirms_then_stops_mails_and_refuses_tampering(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """The unsubscribe link shows a confirm page (a GET changes nothing), its POST stops reply
    mails at once, and a tampered link is refused."""
    owner: Account = sign_in_owner(mail_app)
    _, cid, address = visitor_with_email(mail_app)
    assert reply(mail_app, owner, cid, "First answer.").status_code == 201
    url = unsubscribe_url(eventually(lambda: mailbox.to(address), 10 * UNIT, "a mail")[0])
    tampered = re.sub(r"v=(\d+)", lambda m: f"v={int(m.group(1)) + 1}", url)
    for method in ("GET", "POST"):
        refused = mail_app.http.request(method, tampered)
        assert refused.status_code == 400 and "does not work" in refused.text
    confirm = mail_app.http.get(url)
    assert confirm.status_code == 200 and 'method="post"' in confirm.text
    # The GET alone unsubscribed nothing.
    assert reply(mail_app, owner, cid, "Second answer.").status_code == 201
    eventually(lambda: len(mailbox.to(address)) == 2, 10 * UNIT, "the second mail")
    done = mail_app.http.post(url)
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert reply(mail_app, owner, cid, "Third answer.").status_code == 201
    assert len(mails_after_batch(mailbox, address)) == 2
