"""Isolation: one visitor's token never reads or writes another visitor's conversation."""

from __future__ import annotations

from tests.app_server import AppServer
from tests.visitors import bearer, new_session, next_frame, send, visitor_socket


async def test_visitor_token_reaches_only_its_own_conversation(app: AppServer) -> None:
    """Every visitor endpoint and frame is scoped by the token: B sees nothing of A's."""
    alice, bob = new_session(app), new_session(app)
    async with visitor_socket(app, alice["token"]) as (ws, _):
        await send(ws, {"type": "message", "client_id": "a1", "text": "alice's secret"})
        alice_message = (await next_frame(ws, "ack"))["message"]

    # Bob's session, socket replay and HTTP reads show nothing of Alice's.
    assert new_session(app, bob["token"])["messages"] == []
    async with visitor_socket(app, bob["token"], 0) as (ws, welcome):
        assert welcome["conversation"] is None and welcome["messages"] == []
        # Bob reusing Alice's client id starts his own conversation; Alice's is untouched.
        await send(ws, {"type": "message", "client_id": "a1", "text": "bob here"})
        bob_message = (await next_frame(ws, "ack"))["message"]
    assert bob_message["conversation_id"] != alice_message["conversation_id"]
    for after in (0, 1):
        listed = app.http.get(
            f"/api/v1/widget/messages?after={after}", headers=bearer(bob["token"])
        ).json()["messages"]
        assert all(m["conversation_id"] == bob_message["conversation_id"] for m in listed)
        assert "alice's secret" not in str(listed)

    # Alice still has exactly her own messages.
    alice_texts = [m["text"] for m in new_session(app, alice["token"])["messages"]]
    assert "bob here" not in alice_texts and "alice's secret" in alice_texts


def test_missing_or_forged_tokens_are_401(app: AppServer) -> None:
    """Without a valid visitor token, reads and writes answer 401 with the envelope."""
    for headers in ({}, bearer("forged"), {"Authorization": "Basic abc"}):
        read = app.http.get("/api/v1/widget/messages", headers=headers)
        write = app.http.post(
            "/api/v1/widget/messages",
            json={"client_id": "x", "text": "hi"},
            headers=headers,
        )
        assert read.status_code == write.status_code == 401
        assert read.json()["error"]["code"] == "not_authenticated"
