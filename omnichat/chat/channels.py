"""Channels beyond the web widget: how a staff or system message leaves by SMS or WhatsApp.

The chat core does not know Twilio. A channel's sender registers its hook here when its package
is imported (`omnichat.twilio.outbox` does for "sms" and "whatsapp"), and `messages.insert`
calls it inside the message's transaction, so the text is queued with the message or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from omnichat.storage.db import Tx

if TYPE_CHECKING:
    from omnichat.chat.conversations import Conversation

DeliveryStatus = Literal[
    "pending", "sending", "queued", "sent", "delivered", "read", "undelivered", "failed"
]


@dataclass(frozen=True)
class Delivery:
    """What agents see of an outbound text: its state and, when it failed, why."""

    status: DeliveryStatus
    error_code: str | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


# (tx, conversation, message id, sender, text) -> the queued text's delivery state.
Outgoing = Callable[[Tx, "Conversation", int, str, str], Awaitable[Delivery]]
_outgoing: dict[str, Outgoing] = {}


def register(channel: str, hook: Outgoing) -> None:
    """Make `hook` the way public staff and system messages leave on `channel`."""
    _outgoing[channel] = hook


async def send(
    tx: Tx, conversation: Conversation, message_id: int, sender: str, text: str
) -> Delivery:
    """Queue a message for its conversation's channel inside `tx`."""
    hook = _outgoing.get(conversation.channel)
    if hook is None:
        # Storing it unsent would lose it silently: refuse, which rolls the message back.
        raise RuntimeError(f"no sender is registered for the {conversation.channel} channel")
    return await hook(tx, conversation, message_id, sender, text)
