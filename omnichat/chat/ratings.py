"""Ratings: a web visitor scores their closed conversation 1 to 5, with an optional comment.

One rating per close: rating the same close again is a 409; a conversation reopened and closed
again may be rated again, the new rating replacing the old one. The rating lives on the
conversation (`rating_score`, `rating_comment`, `rated_at`) and agents see it through the
conversation's `conversation.updated` event; webhooks can also ask for `rating.created`.
"""

from __future__ import annotations

from typing import Any

import orjson

from omnichat import times
from omnichat.chat import conversations
from omnichat.chat.conversations import Conversation
from omnichat.errors import Conflict, Forbidden, Invalid, NotFound
from omnichat.sites import Site
from omnichat.storage.db import Database, Tx
from omnichat.webhooks import deliveries

MAX_COMMENT = 1000


def parse(body: dict[str, Any]) -> tuple[int, str | None]:
    """The score (1 to 5) and the comment (trimmed, "" as None); `Invalid` names the field."""
    score = body.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise Invalid("score", "must be a whole number from 1 to 5")
    comment = body.get("comment")
    if comment is None:
        return score, None
    if not isinstance(comment, str):
        raise Invalid("comment", "must be a string or null")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise Invalid("comment", f"must be at most {MAX_COMMENT} characters")
    return score, comment or None


async def rate(
    db: Database, site: Site, visitor_id: int, score: int, comment: str | None
) -> Conversation:
    """Rate the visitor's closed web conversation; 403 when the site asks for no ratings, 404
    when the visitor has no closed conversation, 409 when this close is already rated."""
    if not site.settings.ratings:
        raise Forbidden("this site does not take ratings", code="ratings_off")

    async def op(tx: Tx) -> Conversation:
        row = await tx.fetch_one(
            "SELECT id, status, closed_at, rated_at FROM conversations"
            " WHERE visitor_id = :v AND channel = 'web'",
            {"v": visitor_id},
        )
        if row is None or row["status"] != "closed":
            raise NotFound("you have no closed conversation to rate", code="nothing_to_rate")
        if row["rated_at"] is not None and row["rated_at"] >= (row["closed_at"] or ""):
            raise Conflict("this conversation is already rated", code="already_rated")
        await tx.execute(
            "UPDATE conversations SET rating_score = :score, rating_comment = :comment,"
            " rated_at = :now WHERE id = :id",
            {"score": score, "comment": comment, "now": times.now_iso(), "id": row["id"]},
        )
        conversation = await conversations.load(tx, row["id"])
        await conversations.announce(tx, conversation, "conversation.updated")
        # Integrations get a rating event of its own; agents see it on the conversation.
        data = {"rating": conversation.rating_json(), "conversation": conversation.to_json()}
        await deliveries.enqueue(
            tx, conversation.tenant_id, "rating.created", orjson.dumps(data).decode()
        )
        return conversation

    return await db.write(op)
