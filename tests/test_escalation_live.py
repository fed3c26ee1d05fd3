"""Escalation against the real server: frames to the visitor and agents, replies, restarts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.agents import agent_socket, frames_until, quiet, reply, visitor_says
from tests.escalations import (
    ESCALATION,
    GREETING,
    PATIENCE,
    make_site,
    parse_time,
    stored_messages,
    system_texts,
)
from tests.servers import ServerProcess
from tests.staff import Account, sign_in_owner
from tests.timing import UNIT, eventually
from tests.visitors import new_session, send, visitor_socket

# The contract: each step fires within 2 s of its due time.
PRECISION = 2.0


def escalated_and_told(conversation_id: int) -> Callable[[dict[str, Any]], bool]:
    """A `frames_until` condition: both the escalation text and the escalated status arrived."""
    seen = {"text": False, "status": False}

    def done(frame: dict[str, Any]) -> bool:
        if frame["type"] == "message" and frame["message"]["text"] == ESCALATION:
            seen["text"] = True
        if frame["type"] == "conversation" and frame["conversation"]["id"] == conversation_id:
            seen["status"] = frame["conversation"]["status"] == "escalated"
        return seen["text"] and seen["status"]

    return done


async def test_steps_reach_visitor_and_agents_once_each_on_time(
    server: ServerProcess, server_owner: Account
) -> None:
    """Patience at 1 s and escalation at 3 s arrive once each, on time, on both sides."""
    site = make_site(server, server_owner, patience_seconds=1, escalate_seconds=3)
    token = new_session(server, site_key=site["site_key"])["token"]
    async with (
        agent_socket(server, server_owner.access_token) as (agents, _),
        visitor_socket(server, token) as (ws, _),
    ):
        await send(ws, {"type": "message", "client_id": "c1", "text": "anyone there?"})
        # The greeting's frame and the ack may come in either order (with several processes
        # the frame goes round through Redis).
        frames = await frames_until(ws, lambda f: f["type"] == "ack")
        conversation_id = frames[-1]["message"]["conversation_id"]
        frames += await frames_until(ws, escalated_and_told(conversation_id), timeout=10 * UNIT)
        frames += await quiet(ws, 1.5 * UNIT)
        texts = [f["message"]["text"] for f in frames if f["type"] == "message"]
        assert texts == [GREETING, PATIENCE, ESCALATION]
        statuses = [f["conversation"]["status"] for f in frames if f["type"] == "conversation"]
        # The opening's "open" frame may come before the ack or after it, as the greeting's.
        assert statuses in (["escalated"], ["open", "escalated"])

        def mine(frame: dict[str, Any]) -> bool:
            data = frame.get("data", {})
            return data.get("conversation", {}).get("id") == conversation_id

        events = await frames_until(
            agents,
            lambda f: (
                mine(f)
                and f["event"] == "conversation.updated"
                and f["data"]["conversation"]["status"] == "escalated"
            ),
            timeout=5 * UNIT,
        )
        events += await quiet(agents, 0.5 * UNIT)
    stored = [
        e["data"]["message"]["text"]
        for e in events
        if mine(e)
        and e["event"] == "message.created"
        and e["data"]["message"]["sender"] == "system"
    ]
    assert stored == [GREETING, PATIENCE, ESCALATION]
    found = stored_messages(server, conversation_id)
    clock = parse_time(next(m for m in found if m["sender"] == "visitor")["created_at"])
    for text, due in ((PATIENCE, 1), (ESCALATION, 3)):
        fired = parse_time(next(m for m in found if m["text"] == text)["created_at"])
        assert 0 <= (fired - clock).total_seconds() - due <= PRECISION * UNIT


async def test_agent_reply_stops_the_steps(server: ServerProcess, server_owner: Account) -> None:
    """Answered at once, the visitor gets neither the patience nor the escalation message."""
    site = make_site(server, server_owner, patience_seconds=1, escalate_seconds=2)
    token, message = visitor_says(server, "hello?", key=site["site_key"])
    answered = reply(server, server_owner, message["conversation_id"], "Hi! How can I help?")
    assert answered.status_code == 201, answered.text
    async with visitor_socket(server, token, message["seq"]) as (ws, welcome):
        frames = welcome["messages"] + [
            f["message"] for f in await quiet(ws, 3 * UNIT) if f["type"] == "message"
        ]
    assert [m["text"] for m in frames] == ["Hi! How can I help?"]
    assert system_texts(stored_messages(server, message["conversation_id"])) == [GREETING]


def test_steps_due_during_a_restart_fire_once_each(
    start_server: Callable[..., ServerProcess],
) -> None:
    """Stopped before the steps were due and started after: each fires once, at start-up."""
    server = start_server()
    site = make_site(server, sign_in_owner(server), patience_seconds=3, escalate_seconds=5)
    token, message = visitor_says(server, "hello?", key=site["site_key"])
    server.stop()
    clock = parse_time(message["created_at"])
    assert time.time() - clock.timestamp() < 3, "the server took too long to stop"
    time.sleep(max(0.0, clock.timestamp() + 5.5 - time.time()))
    server.start()
    started = time.time()
    eventually(
        lambda: ESCALATION in system_texts(stored_messages(server, message["conversation_id"])),
        5 * UNIT,
        "the due steps to fire after the restart",
    )
    found = stored_messages(server, message["conversation_id"])
    assert system_texts(found) == [GREETING, PATIENCE, ESCALATION]
    for step in found[-2:]:
        assert parse_time(step["created_at"]).timestamp() - started <= PRECISION * UNIT
    # Another restart, and a while for the job to run: nothing fires twice.
    server.restart()
    session = new_session(server, token, site_key=site["site_key"])
    assert session["conversation"]["status"] == "escalated"
    time.sleep(1.5 * UNIT)
    assert system_texts(stored_messages(server, message["conversation_id"])) == [
        GREETING,
        PATIENCE,
        ESCALATION,
    ]


def test_zero_turns_the_steps_off(server: ServerProcess, server_owner: Account) -> None:
    """With both timings at 0 the visitor is left with the greeting, whatever the wait."""
    site = make_site(server, server_owner, patience_seconds=0, escalate_seconds=0)
    token, message = visitor_says(server, f"quiet {uuid.uuid4().hex}", key=site["site_key"])
    time.sleep(1.5 * UNIT)
    response = server.http.get(
        "/api/v1/widget/messages",
        params={"after": message["seq"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"messages": []}
    assert system_texts(stored_messages(server, message["conversation_id"])) == [GREETING]
