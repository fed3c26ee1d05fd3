"""The outbox across a kill -9: nothing owed is lost, nothing accepted is sent twice."""

from __future__ import annotations

from typing import Any

from tests.servers import ServerProcess, query
from tests.timing import UNIT, eventually
from tests.twilio_standin import (
    PUBLIC,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    Answer,
    TwilioStandIn,
    give_numbers,
    new_phone,
    post_signed,
    standin,
    text_params,
    twilio_env,
)

__all__ = ["standin"]
GREETING = "Connecting you with a staff member, please wait..."


def outbox(server: ServerProcess) -> list[dict[str, Any]]:
    return query(server, "SELECT * FROM outbox ORDER BY id")


def texting_server(start_server: Any, standin: TwilioStandIn, **env: str) -> ServerProcess:
    standin.public_base = PUBLIC
    server: ServerProcess = start_server(**twilio_env(standin, **env))
    standin.forward_to = server
    give_numbers(server, SMS_NUMBER, WHATSAPP_NUMBER)
    return server


def test_unsent_texts_survive_kill_9_and_go_out_once(
    start_server: Any, standin: TwilioStandIn
) -> None:
    """Texts queued while Twilio fails are sent, once each, by the server started after a kill."""
    standin.plan(*[Answer(500, 20500, "down")] * 1000)
    server = texting_server(
        start_server,
        standin,
        OMNICHAT_TWILIO_RETRY_MAX_SECONDS="0.5",
        OMNICHAT_TWILIO_UNKNOWN_OUTCOME_GRACE_SECONDS="0.2",
    )
    phones = [new_phone() for _ in range(3)]
    for phone in phones:
        assert post_signed(server, text_params(phone, "hello")).status_code == 200
    standin.wait_requests(3)
    server.kill()
    assert {row["status"] for row in outbox(server)} <= {"pending", "sending"}
    standin.planned.clear()
    server.start()
    standin.forward_to = server
    accepted = standin.wait_for(3)
    eventually(lambda: {row["status"] for row in outbox(server)} == {"queued"}, 15 * UNIT)
    assert sorted(sent.to for sent in accepted) == sorted(phones)
    assert all(sent.body == GREETING for sent in accepted)
    assert len(standin.accepted) == 3


def test_text_accepted_just_before_a_kill_is_settled_by_its_callback(
    start_server: Any, standin: TwilioStandIn
) -> None:
    """Twilio took the text but the server died before recording it: the callback that follows
    the restart settles it, so it is not sent again."""
    standin.release.clear()
    server = texting_server(
        start_server, standin, OMNICHAT_TWILIO_UNKNOWN_OUTCOME_GRACE_SECONDS="30"
    )
    phone = new_phone()
    assert post_signed(server, text_params(phone, "hi")).status_code == 200
    [sent] = standin.wait_for(1)
    server.kill()
    standin.release.set()
    [row] = outbox(server)
    assert row["status"] == "sending" and row["provider_sid"] is None
    server.start()
    standin.forward_to = server
    waiting = eventually(lambda: [r for r in outbox(server) if r["status"] == "pending"], 15 * UNIT)
    assert waiting[0]["error_code"] == "unknown_outcome"
    assert standin.callback(sent, "sent") == 204
    [row] = outbox(server)
    assert row["status"] == "sent" and row["provider_sid"] == sent.sid
    assert len(standin.requests) == 1


def test_unconfirmed_text_is_sent_again_after_the_grace_period(
    start_server: Any, standin: TwilioStandIn
) -> None:
    """With no callback to prove the interrupted attempt, the text is sent again: never lost."""
    standin.release.clear()
    server = texting_server(
        start_server, standin, OMNICHAT_TWILIO_UNKNOWN_OUTCOME_GRACE_SECONDS="0.5"
    )
    phone = new_phone()
    assert post_signed(server, text_params(phone, "hi")).status_code == 200
    standin.wait_for(1)
    server.kill()
    standin.release.set()
    server.start()
    accepted = standin.wait_for(2)
    assert [sent.to for sent in accepted] == [phone, phone]
    eventually(lambda: outbox(server)[0]["status"] == "queued", 15 * UNIT)
