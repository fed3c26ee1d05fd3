"""Email: the `[email]` settings, the mails we write, and one SMTP send through aiosmtplib.

Every mail has a plain-text part and a simple HTML part. Every value put into the HTML (a name,
a site, a link) is escaped; nothing a visitor typed goes into a mail unless the site shows
notification content, and then only a short preview, escaped like the rest.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from omnichat.settings import EmailSettings, Settings, SettingsError

REQUIRED = ("smtp_host", "from_address")


class MailError(Exception):
    """An SMTP failure; `permanent` when sending again cannot help (a refused recipient)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def enabled(settings: EmailSettings) -> bool:
    return bool(settings.smtp_host.strip())


def missing(settings: Settings) -> list[str]:
    """What email needs and lacks, once smtp_host turns it on (empty: complete, or off)."""
    if not enabled(settings.email):
        return []
    absent = [f"email.{name}" for name in REQUIRED if not getattr(settings.email, name).strip()]
    if settings.email.smtp_username and not settings.email.smtp_password:
        absent.append("email.smtp_password")
    if not settings.public_url:
        absent.append("server.public_url")
    return absent


def describe(settings: Settings) -> str:
    """One line for `check`; incomplete mail settings are a `SettingsError` naming the keys."""
    if not enabled(settings.email):
        return "Email: off (set email.smtp_host and email.from_address to send mail)"
    absent = missing(settings)
    if absent:
        raise SettingsError(
            f"email is partly configured: {', '.join(absent)} missing"
            " (server.public_url makes the links in mails; clear email.smtp_host to turn"
            " email off)"
        )
    email = settings.email
    return (
        f"Email: on, through {email.smtp_host}:{email.smtp_port} ({email.smtp_tls})"
        f" from {email.from_address}; links point at {settings.public_url}"
    )


@dataclass(frozen=True)
class Mail:
    subject: str
    lines: list[str]  # paragraphs of the plain-text part
    link: tuple[str, str] | None = None  # (label, URL) shown as a button in HTML
    unsubscribe: str | None = None  # a URL that stops these mails, last and in a header

    def text(self) -> str:
        parts = list(self.lines)
        if self.link is not None:
            parts.append(f"{self.link[0]}: {self.link[1]}")
        if self.unsubscribe is not None:
            parts.append(f"To stop these mails: {self.unsubscribe}")
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        parts = [f"<p>{html.escape(line)}</p>" for line in self.lines]
        if self.link is not None:
            label, url = (html.escape(value) for value in self.link)
            parts.append(f'<p><a href="{url}">{label}</a></p>')
        if self.unsubscribe is not None:
            url = html.escape(self.unsubscribe)
            parts.append(f'<p style="font-size:smaller"><a href="{url}">Unsubscribe</a></p>')
        return (
            '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
            + "".join(parts)
            + "</body></html>"
        )

    def message(self, sender: str, to: str, name: str = "") -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = self.subject
        message["From"] = formataddr(("Omnichat", sender))
        message["To"] = formataddr((name, to)) if name else to
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        if self.unsubscribe is not None:
            message["List-Unsubscribe"] = f"<{self.unsubscribe}>"
        message.set_content(self.text())
        message.add_alternative(self.html(), subtype="html")
        return message


async def send(settings: EmailSettings, message: EmailMessage) -> None:
    """Hand one mail to the SMTP server; `MailError` says whether trying again may help."""
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=str(settings.smtp_password) or None,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            timeout=settings.timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [error.code for error in exc.recipients]
        raise MailError(
            f"recipient refused ({codes})", permanent=all(c >= 500 for c in codes)
        ) from None
    except aiosmtplib.SMTPResponseException as exc:
        # Not permanent even for 5xx: a wrong password or sender is fixed by the operator, and
        # the mail should then go out.
        raise MailError(f"SMTP answered {exc.code}") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise MailError(f"could not reach the SMTP server ({type(exc).__name__})") from None
