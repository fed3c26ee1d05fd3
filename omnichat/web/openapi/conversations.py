"""Conversations and follow-ups for staff (omnichat/web/agent_api.py, the labels of a
conversation in labels_api.py, the retry of a failed text in channels_api.py)."""

from __future__ import annotations

from omnichat.web.openapi.operations import (
    BOOLEAN,
    MAX_ID,
    STAFF,
    Schema,
    answer,
    array,
    body,
    enum,
    integer,
    nullable,
    operation,
    path_id,
    query,
    ref,
    string,
    with_text_or_files,
)

TAG = "Conversations"
ONE = answer({"conversation": ref("Conversation")})
FOLLOWUP = answer({"followup": ref("Followup")})
MESSAGE = answer({"message": ref("Message")})
LIMIT = query("limit", integer(1, 200), "Page size (default 50).")


def _action(summary: str, path: str) -> tuple[str, dict[str, Schema]]:
    op = operation(
        summary, tag=TAG, security=STAFF, params=[path_id()], answers={200: ONE}, errors=[409]
    )
    return f"/api/v1/conversations/{{id}}/{path}", {"post": op}


def paths() -> dict[str, dict[str, Schema]]:
    return {
        "/api/v1/conversations": {
            "get": operation(
                "The inbox: a page of conversations, most recently active first",
                tag=TAG,
                security=STAFF,
                params=[
                    query("status", enum("open", "escalated", "closed", "all", "active")),
                    query("assignee", string(), "`me`, `none` or a user id."),
                    query("q", string(maxLength=200), "Words searched in messages and people."),
                    query("label", string(maxLength=40)),
                    LIMIT,
                    query("before", string(), "The `next` cursor of the previous page."),
                ],
                answers={
                    200: answer(
                        {
                            "conversations": array(ref("InboxConversation")),
                            "next": nullable(string()),
                        }
                    )
                },
            )
        },
        "/api/v1/conversations/{id}": {
            "get": operation(
                "One conversation",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={200: answer({"conversation": ref("InboxConversation")})},
            )
        },
        "/api/v1/conversations/{id}/messages": {
            "get": operation(
                "Messages and notes after `after_seq`, oldest first",
                tag=TAG,
                security=STAFF,
                params=[
                    path_id(),
                    query("after_seq", integer(0, MAX_ID)),
                    query("limit", integer(1, 500), "Default 100."),
                ],
                answers={200: answer({"messages": array(ref("Message")), "more": BOOLEAN})},
            ),
            "post": operation(
                "Reply, or write a private note; the same client_id again answers 200",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                request=with_text_or_files(
                    body(
                        {
                            "text": string(maxLength=4000),
                            "client_id": nullable(string(minLength=1, maxLength=64)),
                            "private": BOOLEAN,
                            "attachments": array(integer(1, MAX_ID)),
                        },
                        closed=False,
                    )
                ),
                answers={200: MESSAGE, 201: MESSAGE},
                errors=[409],
            ),
        },
        "/api/v1/conversations/{id}/messages/{message_id}/retry": {
            "post": operation(
                "Send a failed SMS/WhatsApp reply again",
                tag=TAG,
                security=STAFF,
                params=[path_id(), path_id("message_id")],
                answers={200: MESSAGE},
                errors=[409],
            )
        },
        "/api/v1/conversations/{id}/assign": {
            "post": operation(
                "Assign to a user, or unassign with null",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                request=body({"user_id": nullable(integer(1, MAX_ID))}, ["user_id"], closed=False),
                answers={200: ONE},
                errors=[409],
            )
        },
        **dict([_action("Close", "close"), _action("Reopen", "reopen")]),
        "/api/v1/conversations/{id}/read": {
            "post": operation(
                "Move my read marker to `seq` (default: the newest message)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                request=body({"seq": integer(0)}, closed=False),
                request_required=False,
                answers={
                    200: answer(
                        {
                            "read": answer(
                                {"conversation_id": integer(1), "last_read_seq": integer(0)}
                            )
                        }
                    )
                },
            )
        },
        "/api/v1/conversations/{id}/labels": {
            "put": operation(
                "Set the conversation's labels (names of the tenant's labels)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                request=body(
                    {"labels": array(string(minLength=1, maxLength=40), maxItems=20)},
                    ["labels"],
                    closed=False,
                ),
                answers={200: ONE},
            )
        },
        "/api/v1/conversations/{id}/pages": {
            "get": operation(
                "Pages the visitor opened, newest first (at most 50)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={
                    200: answer(
                        {
                            "pages": array(
                                answer(
                                    {
                                        "url": string(),
                                        "title": nullable(string()),
                                        "at": {"type": "string", "format": "date-time"},
                                    }
                                )
                            )
                        }
                    )
                },
            )
        },
        "/api/v1/conversations/{id}/related": {
            "get": operation(
                "The same person's other conversations (at most 20)",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={200: answer({"conversations": array(ref("InboxConversation"))})},
            )
        },
        "/api/v1/followups": {
            "get": operation(
                "Follow-ups, newest first (default: new and viewed)",
                tag=TAG,
                security=STAFF,
                params=[
                    query("status", enum("new", "viewed", "archived", "all")),
                    LIMIT,
                    query("before", string(pattern="^[0-9]+$")),
                ],
                answers={
                    200: answer({"followups": array(ref("Followup")), "next": nullable(string())})
                },
            )
        },
        "/api/v1/followups/{id}/view": {
            "post": operation(
                "Mark a new follow-up viewed",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={200: FOLLOWUP},
                errors=[409],
            )
        },
        "/api/v1/followups/{id}/archive": {
            "post": operation(
                "Archive a follow-up",
                tag=TAG,
                security=STAFF,
                params=[path_id()],
                answers={200: FOLLOWUP},
                errors=[409],
            )
        },
    }
