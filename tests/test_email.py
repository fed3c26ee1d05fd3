"""Email through a real SMTP server on loopback: password reset, invitations, the owners' test
mail, and mail queued while the SMTP server is down."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.agents import visitor_says
from tests.app_server import AppServer
from tests.mailbox import Mailbox, Received
from tests.servers import OWNER_EMAIL, query
from tests.staff import (
    Account,
    create_account,
    login,
    login_response,
    sign_in_owner,
    unique_email,
    unique_ip,
)
from tests.timing import UNIT, eventually

NEW_PASSWORD = "a-brand-new-password-9"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def mail_app(start_app: Callable[..., AppServer], mailbox: Mailbox) -> AppServer:
    return start_app(**mailbox.env())


def one_mail(mailbox: Mailbox, address: str, count: int = 1) -> Received:
    found = eventually(
        lambda: len(mailbox.to(address)) >= count and mailbox.to(address),
        10 * UNIT,
        f"a mail to {address}",
    )
    return found[count - 1]  # type: ignore[no-any-return]


def link_token(mail: Received, fragment: str) -> str:
    match = re.search(
        rf"https://chat\.clinic\.example/admin#{fragment}=([A-Za-z0-9_-]+)", mail.part("plain")
    )
    assert match, mail.part("plain")
    return match.group(1)


def invite(app: AppServer, admin: Account, name: str, mailbox: Mailbox) -> tuple[str, str]:
    """Invite a colleague by email; returns their address and the invitation token."""
    address = unique_email("invited")
    made = app.http.post(
        "/api/v1/users", json={"email": address, "name": name}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["invited"] is True and "password" not in made.json()
    return address, link_token(one_mail(mailbox, address), "invite")


def accept(app: AppServer, token: str, name: str = "Dana") -> Any:
    return app.http.post(
        "/api/v1/auth/accept", json={"token": token, "password": NEW_PASSWORD, "name": name}
    )


def links(app: AppServer) -> list[dict[str, Any]]:
    return query(app, "SELECT * FROM account_links")


def forgot(app: AppServer, address: str, ip: str | None = None) -> Any:
    headers = {"X-Forwarded-For": ip or unique_ip()}
    return app.http.post("/api/v1/auth/forgot", json={"email": address}, headers=headers)


def test_reset_mail_holds_a_single_use_link_and_ends_every_session(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """A reset mail links to BASE/admin#reset=TOKEN, stored only hashed; using it sets the new
    password, ends every session of the user, and works only once."""
    owner = sign_in_owner(mail_app)
    address, token = invite(mail_app, owner, "Eve", mailbox)
    assert accept(mail_app, token, "Eve").status_code == 200
    first = login(mail_app, address, NEW_PASSWORD, ip=unique_ip())
    answer = forgot(mail_app, address)
    assert answer.status_code == 202
    mail = one_mail(mailbox, address, count=2)
    assert mail.subject == "Reset your Omnichat password"
    reset_token = link_token(mail, "reset")
    assert reset_token in mail.part("html")
    assert all(reset_token not in str(row["token_hash"]) for row in links(mail_app))
    done = mail_app.http.post(
        "/api/v1/auth/reset", json={"token": reset_token, "new_password": "another-password-77"}
    )
    assert done.status_code == 200, done.text
    refreshed = mail_app.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": first.refresh_token}
    )
    assert refreshed.status_code == 401
    assert login_response(mail_app, address, NEW_PASSWORD, ip=unique_ip()).status_code == 401
    login(mail_app, address, "another-password-77", ip=unique_ip())
    again = mail_app.http.post(
        "/api/v1/auth/reset", json={"token": reset_token, "new_password": "third-password-888"}
    )
    assert again.status_code == 422 and "token" in again.json()["error"]["message"]


def test_an_expired_reset_link_is_refused(mail_app: AppServer, mailbox: Mailbox) -> None:
    """A reset link older than its hour no longer changes the password."""
    forgot(mail_app, OWNER_EMAIL)
    token = link_token(one_mail(mailbox, OWNER_EMAIL), "reset")
    query(mail_app, "UPDATE account_links SET expires_at = '2000-01-01T00:00:00.000Z'")
    refused = mail_app.http.post(
        "/api/v1/auth/reset", json={"token": token, "new_password": "never-takes-effect-1"}
    )
    assert refused.status_code == 422
    sign_in_owner(mail_app)


def test_forgot_answers_the_same_for_an_unknown_address(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """An address without an account gets the same answer as one with, and no mail goes out."""
    known = forgot(mail_app, OWNER_EMAIL)
    unknown_address = unique_email("nobody")
    unknown = forgot(mail_app, unknown_address)
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    one_mail(mailbox, OWNER_EMAIL)
    assert mailbox.to(unknown_address) == []
    assert forgot(mail_app, "not an address").status_code == 202


def test_forgot_is_throttled_per_address_and_per_ip(mail_app: AppServer) -> None:
    """Asking again and again for one address, or from one IP, is refused with 429 and
    Retry-After."""
    address = unique_email("asked")
    answers = [forgot(mail_app, address) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [202, 202, 202]
    assert answers[3].status_code == 429 and int(answers[3].headers["Retry-After"]) > 0
    ip = unique_ip()
    from_one_ip = [forgot(mail_app, unique_email("spray"), ip).status_code for _ in range(11)]
    assert from_one_ip[:10] == [202] * 10 and from_one_ip[10] == 429


def test_an_invitation_is_mailed_escaped_and_accepted_once(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """With email on, a new account gets an invitation mail (the name escaped in its HTML part)
    instead of a password; accepting it signs the colleague in, once."""
    owner = sign_in_owner(mail_app)
    address, token = invite(mail_app, owner, "<b>Bold</b> & Co", mailbox)
    mail = one_mail(mailbox, address)
    html = mail.part("html")
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html and "<b>Bold</b>" not in html
    assert "<b>Bold</b> & Co" in mail.part("plain")
    assert login_response(mail_app, address, "whatever-it-was-1").status_code == 401
    accepted = accept(mail_app, token, "Dana Scully")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["token_type"] == "bearer" and body["user"]["name"] == "Dana Scully"
    me = mail_app.http.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["user"]["email"] == address
    assert accept(mail_app, token).status_code == 422
    assert accept(mail_app, "made-up-token").status_code == 422


def test_owners_send_a_test_email(mail_app: AppServer, mailbox: Mailbox) -> None:
    """An owner's test mail reaches their own address; an agent may not send one."""
    owner = sign_in_owner(mail_app)
    sent = mail_app.http.post("/api/v1/email/test", headers=owner.headers)
    assert sent.status_code == 202 and sent.json()["to"] == OWNER_EMAIL
    mail = one_mail(mailbox, OWNER_EMAIL)
    assert mail.subject == "Omnichat test email"
    assert "Omnichat can send mail" in mail.part("plain")
    _, token = invite(mail_app, owner, "Agent", mailbox)
    agent = accept(mail_app, token).json()
    refused = mail_app.http.post(
        "/api/v1/email/test", headers={"Authorization": f"Bearer {agent['access_token']}"}
    )
    assert refused.status_code == 403
    metrics = mail_app.http.get("/metrics").text
    assert 'omnichat_notifications_total{channel="email",outcome="sent"}' in metrics


def test_without_email_accounts_keep_the_one_time_password(app: AppServer, owner: Account) -> None:
    """With email off, a new account still answers with its one-time password, a reset request
    is answered 202 all the same, and the test mail says email is off."""
    account = create_account(app, owner, "agent")
    assert account.user["notify"]["escalated"] == ["push", "email"]
    assert forgot(app, account.user["email"]).status_code == 202
    off = app.http.post("/api/v1/email/test", headers=owner.headers)
    assert off.status_code == 409 and off.json()["error"]["code"] == "email_off"


def test_mail_queued_while_smtp_is_down_is_delivered_once_when_it_is_back(
    start_app: Callable[..., AppServer],
) -> None:
    """A reset mail asked for while the SMTP server is down goes out once it is back, once."""
    mailbox = Mailbox()
    app = start_app(**mailbox.env())
    forgot(app, OWNER_EMAIL)

    def attempts() -> int:
        return int(query(app, "SELECT MAX(attempts) AS n FROM notifications")[0]["n"] or 0)

    eventually(lambda: attempts() >= 2, 10 * UNIT, "two failed attempts")
    mailbox.start()
    try:
        one_mail(mailbox, OWNER_EMAIL)
        eventually(
            lambda: 'outcome="sent"} 1.0' in app.http.get("/metrics").text, 5 * UNIT, "metrics"
        )
        assert len(mailbox.to(OWNER_EMAIL)) == 1
    finally:
        mailbox.stop()


def test_notify_preferences_are_checked_and_kept(app: AppServer) -> None:
    """PATCH /auth/me with notify changes only the events given; bad events or channels are
    refused naming the field, leaving the choice as it was."""
    account = sign_in_owner(app)
    patch = lambda body: app.http.patch("/api/v1/auth/me", json=body, headers=account.headers)  # noqa: E731
    for bad, field in (
        ({"notify": {"lunch": ["push"]}}, "notify.lunch"),
        ({"notify": {"assigned": ["sms"]}}, "notify.assigned"),
        ({"notify": {"assigned": "push"}}, "notify.assigned"),
        ({"notify": ["push"]}, "notify"),
    ):
        refused = patch(bad)
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["message"].startswith(field)
    changed = patch({"notify": {"new_conversation": [], "assigned": ["email", "push"]}})
    assert changed.status_code == 200, changed.text
    notify = changed.json()["user"]["notify"]
    assert notify == {
        "new_conversation": [],
        "assigned": ["push", "email"],
        "escalated": ["push", "email"],
        "followup": ["push", "email"],
    }
    assert (
        app.http.get("/api/v1/auth/me", headers=account.headers).json()["user"]["notify"] == notify
    )
    patch({"notify": {"new_conversation": ["push"], "assigned": ["push"]}})


def test_a_follow_up_mails_staff_without_the_visitors_words(
    mail_app: AppServer, mailbox: Mailbox
) -> None:
    """A follow-up request mails every staff member who keeps email for follow-ups (the
    default), naming the site and linking to the follow-ups, with none of the visitor's words
    while the site hides content."""
    token, _ = visitor_says(mail_app, "hello there")
    left = mail_app.http.post(
        "/api/v1/widget/followup",
        json={"name": "Pat <i>", "email": "pat@example.com", "phone": "", "message": "my rash"},
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": unique_ip()},
    )
    assert left.status_code == 201, left.text
    mail = one_mail(mailbox, OWNER_EMAIL)
    assert mail.subject.startswith("New follow-up request")
    assert "https://chat.clinic.example/admin/followups" in mail.part("plain")
    for part in (mail.part("plain"), mail.part("html")):
        assert "rash" not in part and "Pat" not in part
