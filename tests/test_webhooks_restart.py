"""Outgoing webhooks across a restart of the real server: every event is delivered once."""

from __future__ import annotations

from typing import Any

from tests.agents import call, visitor_says
from tests.servers import ServerProcess, free_port, query
from tests.staff import sign_in_owner
from tests.timing import UNIT, eventually
from tests.webhook_receiver import Receiver, verify


def rows(server: ServerProcess) -> list[dict[str, Any]]:
    return query(server, "SELECT * FROM webhook_deliveries ORDER BY id")


def test_deliveries_queued_while_the_receiver_is_down_arrive_once_after_a_restart(
    start_server: Any,
) -> None:
    """Events queued while the receiver is down survive a restart and each arrives once, signed;
    the logs hold neither the secret nor the message text."""
    port = free_port()
    server: ServerProcess = start_server(
        OMNICHAT_EGRESS_ALLOW_HOSTS="127.0.0.1",
        OMNICHAT_WEBHOOKS_RETRY_BASE_SECONDS="0.1",
        OMNICHAT_WEBHOOKS_RETRY_MAX_SECONDS="0.3",
    )
    owner = sign_in_owner(server)
    made = call(
        server,
        owner,
        "POST",
        "/api/v1/webhooks",
        json={"url": f"http://127.0.0.1:{port}/hook", "events": ["message.created"]},
    )
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    token, _ = visitor_says(server, "first words")
    visitor_says(server, "second words", token=token)
    visitor_says(server, "third words", token=token)
    eventually(
        lambda: rows(server) and all(r["attempts"] >= 1 for r in rows(server)),
        10 * UNIT,
        "a failed attempt of every delivery",
    )
    assert {r["status"] for r in rows(server)} <= {"retrying", "sending"}
    server.stop()
    queued = rows(server)
    assert {r["status"] for r in queued} == {"retrying"}
    receiver = Receiver(port=port).start()
    try:
        server.start()
        eventually(
            lambda: {r["status"] for r in rows(server)} == {"delivered"},
            15 * UNIT,
            "every delivery delivered",
        )
        ids = [item.delivery for item in receiver.received]
        assert sorted(ids) == sorted(str(r["id"]) for r in queued)
        texts = [item.json["data"]["message"]["text"] for item in receiver.received]
        assert {"first words", "second words", "third words"} <= set(texts)
        for item in receiver.received:
            verify(secret, item.headers, item.body)
    finally:
        receiver.stop()
    server.stop()
    logs = server.logs() + server.stdout()
    assert "webhook not delivered" in logs
    assert secret not in logs and "second words" not in logs
