"""The agents' HTTP API: the conversation inbox, replies and notes, assignment, follow-ups.

Every handler authenticates the caller as staff (any role: agents work conversations and
follow-ups), parses, calls the domain, and encodes. Ids of another tenant answer 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from omnichat.chat import (
    agent_actions,
    attachments,
    conversations,
    followups,
    inbox,
    messages,
    related,
    visitor_context,
)
from omnichat.chat.inbox import Cursor, Filters
from omnichat.errors import Invalid, NotFound
from omnichat.ids import MAX_ID, digits, whole_number
from omnichat.web.context import context
from omnichat.web.guard import client_ip, require_staff
from omnichat.web.responses import JSONResponse, path_id, query_int, read_json, read_optional_json

PAGE_DEFAULT, PAGE_MAX = 50, 200
MESSAGES_DEFAULT = 100


async def list_conversations(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    params = request.query_params
    filters = Filters.parse(
        params.get("status"), params.get("assignee"), params.get("q"), params.get("label")
    )
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    raw_cursor = request.query_params.get("before")
    before = None if raw_cursor is None else Cursor.decode(raw_cursor)
    items, after = await inbox.page(ctx.db, staff.tenant_id, staff.id, filters, before, limit)
    return JSONResponse(
        {
            "conversations": [item.to_json() for item in items],
            "next": None if after is None else after.encode(),
        }
    )


async def get_conversation(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    item = await inbox.item(ctx.db, staff.tenant_id, staff.id, path_id(request))
    return JSONResponse({"conversation": item.to_json()})


async def list_messages(request: Request) -> JSONResponse:
    """Messages (notes included) after `after_seq`, oldest first, and whether more follow."""
    ctx = context(request)
    staff = await require_staff(request)
    conversation = await conversations.for_tenant(ctx.db, staff.tenant_id, path_id(request))
    if conversation is None:
        raise NotFound("no such conversation")
    after_seq = query_int(request, "after_seq", 0, 0, MAX_ID)
    limit = query_int(request, "limit", MESSAGES_DEFAULT, 1, messages.PAGE)
    found = await messages.page_after(
        ctx.db, conversation.id, after_seq, limit + 1, public_only=False
    )
    return JSONResponse(
        {"messages": [m.to_json() for m in found[:limit]], "more": len(found) > limit}
    )


async def post_message(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    conversation_id = path_id(request)
    body = await read_json(request)
    files = attachments.clean_ids(body.get("attachments"))
    text = messages.clean_text(body.get("text"), may_be_empty=bool(files))
    client_id = messages.clean_client_id(body.get("client_id"), required=False)
    private = body.get("private", False)
    if not isinstance(private, bool):
        raise Invalid("private", "must be true or false")
    stored = await agent_actions.reply(
        ctx.db,
        staff,
        conversation_id,
        text,
        client_id=client_id,
        private=private,
        attachments=files,
    )
    return JSONResponse({"message": stored.message.to_json()}, 200 if stored.duplicate else 201)


async def assign(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    conversation_id = path_id(request)
    body = await read_json(request)
    if "user_id" not in body:
        raise Invalid("user_id", "is required (null unassigns)")
    user_id = body["user_id"]
    if user_id is not None and whole_number(user_id) is None:
        raise Invalid("user_id", "must be a user id or null")
    conversation = await agent_actions.assign(
        ctx.db, staff, conversation_id, user_id, client_ip(request)
    )
    return JSONResponse({"conversation": conversation.to_json()})


async def close(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    conversation = await agent_actions.close(ctx.db, staff, path_id(request), client_ip(request))
    return JSONResponse({"conversation": conversation.to_json()})


async def reopen(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    conversation = await agent_actions.reopen(ctx.db, staff, path_id(request), client_ip(request))
    return JSONResponse({"conversation": conversation.to_json()})


async def mark_read(request: Request) -> JSONResponse:
    """Move the caller's read marker to `seq` (default: the newest message)."""
    ctx = context(request)
    staff = await require_staff(request)
    conversation_id = path_id(request)
    body = await read_optional_json(request)
    seq = body.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise Invalid("seq", "must be a non-negative integer")
    marker = await inbox.mark_read(ctx.db, staff.tenant_id, staff.id, conversation_id, seq)
    return JSONResponse({"read": {"conversation_id": conversation_id, "last_read_seq": marker}})


async def list_followups(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    statuses = followups.parse_statuses(request.query_params.get("status"))
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    raw_before = request.query_params.get("before")
    before = None if raw_before is None else digits(raw_before, 0)
    if raw_before is not None and before is None:
        raise Invalid("before", "is not a cursor this API handed out")
    found, after = await followups.page(ctx.db, staff.tenant_id, statuses, before, limit)
    return JSONResponse(
        {
            "followups": [followup.to_json() for followup in found],
            "next": None if after is None else str(after),
        }
    )


async def view_followup(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    followup = await followups.set_status(
        ctx.db, staff.tenant_id, path_id(request), "viewed", ("new",)
    )
    return JSONResponse({"followup": followup.to_json()})


async def archive_followup(request: Request) -> JSONResponse:
    ctx = context(request)
    staff = await require_staff(request)
    followup = await followups.set_status(
        ctx.db, staff.tenant_id, path_id(request), "archived", ("new", "viewed")
    )
    return JSONResponse({"followup": followup.to_json()})


async def list_pages(request: Request) -> JSONResponse:
    """The pages the conversation's visitor opened, newest first (the 50 newest are kept)."""
    ctx = context(request)
    staff = await require_staff(request)
    conversation = await conversations.for_tenant(ctx.db, staff.tenant_id, path_id(request))
    if conversation is None:
        raise NotFound("no such conversation")
    found = await visitor_context.pages(ctx.db, conversation.visitor_id)
    return JSONResponse({"pages": [page.to_json() for page in found]})


async def list_related(request: Request) -> JSONResponse:
    """The same person's other conversations in the tenant (same visitor, email or phone),
    most recently active first, at most 20."""
    ctx = context(request)
    staff = await require_staff(request)
    conversation = await conversations.for_tenant(ctx.db, staff.tenant_id, path_id(request))
    if conversation is None:
        raise NotFound("no such conversation")
    found = await related.conversations_of_same_person(ctx.db, conversation)
    return JSONResponse({"conversations": [item.to_json() for item in found]})


routes = [
    Route("/api/v1/conversations", list_conversations, methods=["GET"]),
    Route("/api/v1/conversations/{id:int}", get_conversation, methods=["GET"]),
    Route("/api/v1/conversations/{id:int}/messages", list_messages, methods=["GET"]),
    Route("/api/v1/conversations/{id:int}/messages", post_message, methods=["POST"]),
    Route("/api/v1/conversations/{id:int}/assign", assign, methods=["POST"]),
    Route("/api/v1/conversations/{id:int}/close", close, methods=["POST"]),
    Route("/api/v1/conversations/{id:int}/reopen", reopen, methods=["POST"]),
    Route("/api/v1/conversations/{id:int}/read", mark_read, methods=["POST"]),
    Route("/api/v1/conversations/{id:int}/pages", list_pages, methods=["GET"]),
    Route("/api/v1/conversations/{id:int}/related", list_related, methods=["GET"]),
    Route("/api/v1/followups", list_followups, methods=["GET"]),
    Route("/api/v1/followups/{id:int}/view", view_followup, methods=["POST"]),
    Route("/api/v1/followups/{id:int}/archive", archive_followup, methods=["POST"]),
]
