"""Mail across a restart of the real server: queued while SMTP is down, delivered once."""

from __future__ import annotations

from typing import Any

from tests.mailbox import Mailbox
from tests.servers import OWNER_EMAIL, ServerProcess, query
from tests.staff import unique_ip
from tests.timing import UNIT, eventually


def statuses(server: ServerProcess) -> list[str]:
    return [row["status"] for row in query(server, "SELECT status FROM notifications ORDER BY id")]


def test_mail_queued_before_a_restart_is_delivered_once_after_it(start_server: Any) -> None:
    """A reset mail asked for while the SMTP server is down survives a restart of the server and
    reaches the mailbox once when SMTP is back; the log never holds the link's token."""
    mailbox = Mailbox()
    server: ServerProcess = start_server(**mailbox.env())
    answer = server.http.post(
        "/api/v1/auth/forgot", json={"email": OWNER_EMAIL}, headers={"X-Forwarded-For": unique_ip()}
    )
    assert answer.status_code == 202
    eventually(lambda: statuses(server) == ["retrying"], 10 * UNIT, "a failed attempt")
    server.stop()
    mailbox.start()
    try:
        server.start()
        eventually(lambda: mailbox.to(OWNER_EMAIL), 15 * UNIT, "the reset mail")
        eventually(lambda: statuses(server) == ["sent"], 5 * UNIT, "the row marked sent")
        server.stop()
        server.start()
        eventually(
            lambda: "omnichat_notifications_waiting" in server.http.get("/metrics").text,
            10 * UNIT,
            "the sender's first pass",
        )
        assert len(mailbox.to(OWNER_EMAIL)) == 1
        token = mailbox.to(OWNER_EMAIL)[0].part("plain").split("#reset=")[1].split()[0]
        assert token not in server.logs()
    finally:
        mailbox.stop()
