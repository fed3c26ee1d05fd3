"""Work done once whatever the number of processes: two `serve` processes share one PostgreSQL
database (and a Redis), and escalation steps and SMS sends happen once per due item."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.engines import shared_postgres, shared_redis
from tests.servers import ServerProcess, query
from tests.staff import sign_in_owner
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
PATIENCE = "Still looking for someone, thank you for waiting."
ESCALATED = "No one is free right now; leave your details and we will get back to you."
StartServer = Callable[..., ServerProcess]


def shared_env(standin: TwilioStandIn, **env: str) -> dict[str, str]:
    """One installation: a fresh PostgreSQL database and the Redis, for every process."""
    return {
        **twilio_env(standin, **env),
        "OMNICHAT_STORAGE_DATABASE_URL": shared_postgres().new_database(),
        "OMNICHAT_HUB_REDIS_URL": shared_redis().url(),
    }


def first_process(
    start_server: StartServer, standin: TwilioStandIn, env: dict[str, str]
) -> ServerProcess:
    """The process that migrates the shared database; the site gets its Twilio numbers."""
    standin.public_base = PUBLIC
    server = start_server(**env)
    standin.forward_to = server
    give_numbers(server, SMS_NUMBER, WHATSAPP_NUMBER)
    return server


def set_timings(server: ServerProcess, **settings: Any) -> None:
    headers = sign_in_owner(server).headers
    site = server.http.get("/api/v1/sites", headers=headers).json()["sites"][0]
    server.http.patch(
        f"/api/v1/sites/{site['id']}", json=settings, headers=headers
    ).raise_for_status()


def system_texts(server: ServerProcess, phone: str) -> list[str]:
    """The system messages of the conversation with `phone`, in order."""
    rows = query(
        server,
        "SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " JOIN visitors v ON v.id = c.visitor_id WHERE v.phone = ? AND m.sender = 'system'"
        " ORDER BY m.seq",
        (phone,),
    )
    return [row["text"] for row in rows]


def outbox(server: ServerProcess) -> list[dict[str, Any]]:
    return query(server, "SELECT * FROM outbox ORDER BY id")


def sent_to(standin: TwilioStandIn) -> Counter[tuple[str, str]]:
    """How many times the stand-in accepted each (number, text)."""
    return Counter((sent.to, sent.body) for sent in standin.accepted)


def test_escalation_steps_once_with_two_processes(
    start_server: StartServer, standin: TwilioStandIn
) -> None:
    """Both processes run the escalation job every second; each conversation still gets its
    patience and escalation message (and text) once."""
    env = shared_env(standin)
    a = first_process(start_server, standin, env)
    b = start_server(**env)
    set_timings(
        a, patience_seconds=1, escalate_seconds=2, patience_text=PATIENCE, escalate_text=ESCALATED
    )
    phones = [new_phone() for _ in range(6)]
    for n, phone in enumerate(phones):
        assert post_signed((a, b)[n % 2], text_params(phone, "hello")).status_code == 200
    expected = [GREETING, PATIENCE, ESCALATED]
    eventually(lambda: all(ESCALATED in system_texts(a, phone) for phone in phones), 15 * UNIT)
    standin.wait_for(3 * len(phones), 15 * UNIT)
    time.sleep(3 * UNIT)  # a few more passes of both jobs and senders
    assert {phone: system_texts(b, phone) for phone in phones} == {
        phone: expected for phone in phones
    }
    assert sent_to(standin) == {(phone, text): 1 for phone in phones for text in expected}


def test_each_reply_is_texted_once_with_two_senders_racing(
    start_server: StartServer, standin: TwilioStandIn
) -> None:
    """Twenty replies queued on two processes whose senders both drain the shared outbox,
    through a provider that fails now and then: Twilio takes each text exactly once."""
    env = shared_env(standin)
    a = first_process(start_server, standin, env)
    b = start_server(**env)
    set_timings(a, patience_seconds=0, escalate_seconds=0)
    standin.plan(*[Answer(500, 20500, "down"), Answer(201)] * 5)
    phones = [new_phone() for _ in range(20)]
    for n, phone in enumerate(phones):
        assert post_signed((a, b)[n % 2], text_params(phone, "hello")).status_code == 200
    standin.wait_for(len(phones), 20 * UNIT)
    eventually(lambda: {row["status"] for row in outbox(a)} == {"queued"}, 15 * UNIT)
    time.sleep(2 * UNIT)  # both senders keep looking; nothing more may go out
    assert sent_to(standin) == {(phone, GREETING): 1 for phone in phones}
    assert len(standin.requests) == len(phones) + 5


def test_a_process_starting_mid_send_does_not_send_again(
    start_server: StartServer, standin: TwilioStandIn
) -> None:
    """A process that starts while another is waiting on Twilio leaves that text alone: its
    start-up recovery only takes back claims older than the lease."""
    env = shared_env(
        standin,
        OMNICHAT_TWILIO_REQUEST_TIMEOUT_SECONDS="30",
        OMNICHAT_TWILIO_UNKNOWN_OUTCOME_GRACE_SECONDS="0.3",
    )
    a = first_process(start_server, standin, env)
    set_timings(a, patience_seconds=0, escalate_seconds=0)
    standin.release.clear()
    phone = new_phone()
    assert post_signed(a, text_params(phone, "hello")).status_code == 200
    standin.wait_requests(1)
    b = start_server(**env)
    time.sleep(1.5 * UNIT)  # past the grace period a reset row would be sent again after
    [row] = outbox(b)
    assert row["status"] == "sending" and row["error_code"] is None
    standin.release.set()
    eventually(lambda: outbox(a)[0]["status"] == "queued", 15 * UNIT)
    time.sleep(1.5 * UNIT)
    assert len(standin.requests) == 1
    assert sent_to(standin) == {(phone, GREETING): 1}
