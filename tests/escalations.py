"""Test helpers for escalation, follow-ups and alerts: sites with their own timings, transcripts.

Each test makes a site of its own through the sites API, so short timings never leak into other
tests sharing the session's server.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tests.servers import Server, query
from tests.staff import Account

PATIENCE = "We are still trying to locate an available staff member, thank you for your patience."
ESCALATION = (
    "All staff are currently assisting others. Please leave your message and contact info, "
    "and a team member will respond as soon as possible."
)
GREETING = "Connecting you with a staff member, please wait..."
THANKS = "Thank you for your message. Our team will respond promptly."


def make_site(server: Server, admin: Account, **settings: Any) -> dict[str, Any]:
    """A new site of the admin's tenant with these settings (timings, texts, hours...)."""
    response = server.http.post(
        "/api/v1/sites",
        json={"name": f"site-{uuid.uuid4().hex[:8]}", **settings},
        headers={"Authorization": f"Bearer {admin.access_token}"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["site"])


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stored_messages(server: Server, conversation_id: int) -> list[dict[str, Any]]:
    """Every stored message of a conversation, read from the server's database file."""
    return query(
        server,
        "SELECT seq, sender, text, private, created_at FROM messages"
        " WHERE conversation_id = ? ORDER BY seq",
        (conversation_id,),
    )


def system_texts(found: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in found if m["sender"] == "system"]
