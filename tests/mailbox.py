"""A real SMTP server on loopback (aiosmtpd), collecting what Omnichat mails."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.servers import free_port


@dataclass
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, kind: str) -> str:
        """The text of the `plain` or `html` part."""
        found = self.message.get_body(preferencelist=(kind,))
        assert found is not None, f"no {kind} part"
        return str(found.get_content())  # type: ignore[attr-defined]


class Mailbox:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.content or b"", policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self) -> Mailbox:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [mail for mail in self.received if address in mail.to]

    def env(self) -> dict[str, Any]:
        """What points a server under test at this mailbox (plain SMTP on loopback)."""
        return {
            "OMNICHAT_EMAIL_SMTP_HOST": "127.0.0.1",
            "OMNICHAT_EMAIL_SMTP_PORT": str(self.port),
            "OMNICHAT_EMAIL_SMTP_TLS": "none",
            "OMNICHAT_EMAIL_FROM_ADDRESS": "chat@clinic.example",
            "OMNICHAT_SERVER_PUBLIC_URL": "https://chat.clinic.example",
            "OMNICHAT_NOTIFY_RETRY_BASE_SECONDS": "0.1",
            "OMNICHAT_NOTIFY_RETRY_MAX_SECONDS": "0.3",
        }
