"""What a queued notification says, written when it is sent.

Reading the conversation at send time means a push that waited out an outage describes the
conversation as it is, and a site's "hide content" switch (`hide_content`, on by default: a
clinic's patients on a lock screen) applies to everything still queued. With it on, a
notification names the event and the site only; with it off, the visitor's name and a short
preview of their latest message are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omnichat import sites
from omnichat.notify.mail import Mail
from omnichat.storage.db import Database

PREVIEW_CHARS = 80
TITLES = {
    "new_conversation": "New conversation",
    "assigned": "Assigned to you",
    "escalated": "Escalated: nobody answered in time",
    "followup": "New follow-up request",
}
LINK_HOURS = {"reset": 1, "invite": 7 * 24}


@dataclass(frozen=True)
class About:
    """What one event notification tells: a title, a body and where a click leads."""

    title: str
    body: str
    path: str  # under the server's base URL
    tag: str  # one notification per conversation on the device, the newest replacing older


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


async def about(db: Database, kind: str, payload: dict[str, Any]) -> About | None:
    """The event's notification, or None when what it was about is gone."""
    conversation_id = payload.get("conversation_id")
    followup_id = payload.get("followup_id")
    row = None
    if conversation_id is not None:
        row = await db.fetch_one(
            "SELECT c.site_id, v.name AS visitor, (SELECT m.text FROM messages m"
            " WHERE m.conversation_id = c.id AND m.sender = 'visitor' ORDER BY m.seq DESC"
            " LIMIT 1) AS latest FROM conversations c JOIN visitors v ON v.id = c.visitor_id"
            " WHERE c.id = :id",
            {"id": conversation_id},
        )
        if row is None:
            return None
    followup = None
    if followup_id is not None:
        followup = await db.fetch_one(
            "SELECT f.name, f.message, COALESCE(v.site_id, c.site_id) AS site_id"
            " FROM followups f LEFT JOIN visitors v ON v.id = f.visitor_id"
            " LEFT JOIN conversations c ON c.id = f.conversation_id WHERE f.id = :id",
            {"id": followup_id},
        )
        if followup is None:
            return None
    site_id = (row or followup or {"site_id": None})["site_id"]
    site = None if site_id is None else await sites.site_by_id(db, site_id)
    hide = site is None or site.settings.hide_content
    title = TITLES.get(kind, "Omnichat")
    body = f"On {site.name}" if site is not None else "Open Omnichat to see it."
    if not hide:
        who = (followup["name"] if followup is not None else row["visitor"] if row else "") or ""
        text = (followup["message"] if followup is not None else row["latest"] if row else "") or ""
        detail = ": ".join(part for part in (who.strip(), _preview(text)) if part)
        if detail:
            body = f"{body} — {detail}"
    if kind == "followup":
        return About(title, body, "/admin/followups", f"followup-{followup_id}")
    return About(title, body, f"/admin/conversations/{conversation_id}", f"c-{conversation_id}")


def event_mail(found: About, base: str) -> Mail:
    return Mail(
        subject=f"{found.title} — Omnichat",
        lines=[found.title + ".", found.body],
        link=("Open it in Omnichat", base + found.path),
    )


def link_mail(kind: str, base: str, token: str, name: str, tenant: str) -> Mail:
    """The reset or invitation mail; the token travels in the URL's fragment, which browsers
    never send to a server (nor to a proxy's log)."""
    fragment = "reset" if kind == "reset" else "invite"
    url = f"{base}/admin#{fragment}={token}"
    hours = LINK_HOURS[kind]
    if kind == "reset":
        return Mail(
            subject="Reset your Omnichat password",
            lines=[
                f"Hello {name},",
                "Someone (we hope you) asked to reset your Omnichat password. The link below"
                f" works once, within {hours} hour.",
                "If it was not you, ignore this mail: your password stays as it is.",
            ],
            link=("Choose a new password", url),
        )
    return Mail(
        subject=f"You are invited to {tenant} on Omnichat",
        lines=[
            f"Hello {name},",
            f"You have an Omnichat account with {tenant}. Choose your password with the link"
            f" below; it works once, within {hours // 24} days.",
        ],
        link=("Accept the invitation", url),
    )


def test_mail(name: str) -> Mail:
    return Mail(
        subject="Omnichat test email",
        lines=[f"Hello {name},", "This is a test email: Omnichat can send mail."],
    )
