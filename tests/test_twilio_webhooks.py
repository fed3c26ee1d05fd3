"""SMS and WhatsApp in process: signed webhooks in, texts out to a Twilio stand-in.

The app believes it is reached at https://chat.example.test (as behind a TLS proxy) while
the tests call it on loopback: signatures must hold for the public URL, not the local one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from omnichat.twilio import signature
from tests.agents import agent_socket, call, frames_until, reply, tenant_slug
from tests.app_server import AppServer
from tests.servers import query, server_env
from tests.staff import Account, other_tenant_account, sign_in_owner
from tests.timing import eventually
from tests.twilio_standin import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    Answer,
    TwilioStandIn,
    give_numbers,
    new_phone,
    post_signed,
    text_params,
    twilio_env,
)
from tests.visitors import bearer, new_session

GREETING = "Connecting you with a staff member, please wait..."
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture(scope="module")
def standin() -> Iterator[TwilioStandIn]:
    server = TwilioStandIn()
    server.public_base = PUBLIC
    yield server
    server.close()


@pytest.fixture(scope="module")
def texting(
    tmp_path_factory: pytest.TempPathFactory, standin: TwilioStandIn
) -> Iterator[AppServer]:
    """An app with Twilio configured, its default site receiving on two numbers."""
    data_dir = tmp_path_factory.mktemp("twilio") / "data"
    process = AppServer(data_dir, server_env(data_dir, **twilio_env(standin))).start()
    standin.forward_to = process
    give_numbers(process, SMS_NUMBER, WHATSAPP_NUMBER)
    yield process
    process.stop()


def conversation_of(app: AppServer, owner: Account, phone: str, channel: str) -> dict:
    listed = call(app, owner, "GET", "/api/v1/conversations?status=all&limit=200").json()
    found = [
        c
        for c in listed["conversations"]
        if c["visitor"]["phone"] == phone and c["channel"] == channel
    ]
    assert len(found) == 1, found
    return dict(found[0])


def messages_of(app: AppServer, owner: Account, conversation_id: int) -> list[dict]:
    response = call(app, owner, "GET", f"/api/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


def sent_to(standin: TwilioStandIn, phone: str, channel: str = "sms") -> list[str]:
    address = ("whatsapp:" if channel == "whatsapp" else "") + phone
    return [sent.body for sent in list(standin.accepted) if sent.to == address]


def test_signed_sms_opens_a_conversation_once_and_greets_by_sms(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """A signed SMS answers empty TwiML, opens an SMS conversation, and a replay stores nothing."""
    phone = new_phone()
    params = text_params(phone, "Is the shop open on Sunday?")
    first = post_signed(texting, params)
    assert first.status_code == 200
    assert first.text == TWIML and first.headers["content-type"].startswith("text/xml")
    # Twilio retrying (or anyone replaying the captured request) changes nothing.
    assert post_signed(texting, params).status_code == 200
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "sms")
    assert conversation["status"] == "open"
    history = messages_of(texting, owner, conversation["id"])
    assert [(m["sender"], m["text"]) for m in history] == [
        ("system", GREETING),
        ("visitor", "Is the shop open on Sunday?"),
    ]
    assert history[1]["client_id"] == params["MessageSid"]
    assert "delivery" not in history[1]
    assert eventually(lambda: sent_to(standin, phone)) == [GREETING]
    [greeting] = [s for s in standin.accepted if s.to == phone]
    assert greeting.sender == SMS_NUMBER
    assert greeting.status_callback.startswith(PUBLIC + "/webhooks/twilio/status?")
    metrics = texting.http.get("/metrics").text
    assert 'omnichat_twilio_webhooks_total{kind="message",outcome="duplicate"} 1.0' in metrics


def test_unsigned_wrongly_signed_and_tampered_requests_are_refused(
    texting: AppServer,
) -> None:
    """Missing, wrong-key, other-URL and tampered signatures get 403 and store nothing."""
    phone = new_phone()
    params = text_params(phone, "forged")
    missing = post_signed(texting, params, signature_header="")
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "bad_signature"
    assert post_signed(texting, params, token="not-the-token").status_code == 403
    # Signed for the address this process sees rather than the public one: refused, because
    # only the configured public URL counts (a proxy's http/https mix-up cannot slip through).
    local = texting.base_url + "/webhooks/twilio"
    assert post_signed(texting, params, signed_url=local).status_code == 403
    good = signature.compute(PUBLIC + "/webhooks/twilio", params.items(), AUTH_TOKEN)
    tampered = {**params, "From": new_phone()}
    assert post_signed(texting, tampered, signature_header=good).status_code == 403
    foreign = {**params, "AccountSid": "AC" + "9" * 32}
    assert post_signed(texting, foreign).status_code == 403
    owner = sign_in_owner(texting)
    listed = call(texting, owner, "GET", "/api/v1/conversations?status=all&limit=200").json()
    assert all(c["visitor"]["phone"] != phone for c in listed["conversations"])


def test_reordered_parameters_still_verify(texting: AppServer) -> None:
    """The form may arrive in any order: the signature covers the sorted parameters."""
    phone = new_phone()
    params = text_params(phone, "order does not matter")
    reordered = dict(reversed(list(params.items())))
    header = signature.compute(PUBLIC + "/webhooks/twilio", params.items(), AUTH_TOKEN)
    assert post_signed(texting, reordered, signature_header=header).status_code == 200


def test_whatsapp_is_its_own_conversation_and_later_texts_join_it(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """WhatsApp from a number that also texts by SMS gets its own conversation, joined later."""
    phone = new_phone()
    assert post_signed(texting, text_params(phone, "by sms")).status_code == 200
    first = text_params(phone, "by whatsapp", "whatsapp", ProfileName="Ann Example")
    assert post_signed(texting, first).status_code == 200
    media = text_params(
        phone,
        "a photo",
        "whatsapp",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        MediaContentType0="image/jpeg",
    )
    assert post_signed(texting, media).status_code == 200
    owner = sign_in_owner(texting)
    sms = conversation_of(texting, owner, phone, "sms")
    whatsapp = conversation_of(texting, owner, phone, "whatsapp")
    assert sms["id"] != whatsapp["id"]
    assert whatsapp["visitor"]["name"] == "Ann Example"
    texts = [m["text"] for m in messages_of(texting, owner, whatsapp["id"])]
    assert texts == [
        GREETING,
        "by whatsapp",
        "a photo",
    ]
    assert eventually(lambda: sent_to(standin, phone, "whatsapp")) == [GREETING]
    [sent] = [s for s in standin.accepted if s.to == "whatsapp:" + phone]
    assert sent.sender == "whatsapp:" + WHATSAPP_NUMBER


def test_text_to_a_number_no_site_uses_is_not_found(texting: AppServer) -> None:
    """A signed text to an unassigned number answers 404, so Twilio's debugger shows it."""
    params = {**text_params(new_phone(), "hello?"), "To": "+15550000000"}
    response = post_signed(texting, params)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_number"


async def test_inbound_text_reaches_agents_live(texting: AppServer) -> None:
    """An agent's socket gets message.created for a text, in an SMS conversation."""
    owner = sign_in_owner(texting)
    phone = new_phone()
    async with agent_socket(texting, owner.access_token) as (ws, _):
        assert post_signed(texting, text_params(phone, "live?")).status_code == 200
        frames = await frames_until(
            ws,
            lambda f: (
                f.get("event") == "message.created" and f["data"]["message"]["text"] == "live?"
            ),
        )
    data = frames[-1]["data"]
    assert data["conversation"]["channel"] == "sms"
    assert data["conversation"]["visitor"]["phone"] == phone


async def test_reply_goes_out_by_sms_and_callbacks_show_delivery(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """An agent's reply is texted once; signed callbacks move its delivery to delivered, live."""
    phone = new_phone()
    assert post_signed(texting, text_params(phone, "hi")).status_code == 200
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "sms")
    async with agent_socket(texting, owner.access_token) as (ws, _):
        answer = reply(texting, owner, conversation["id"], "Yes, 9 to 5.")
        assert answer.status_code == 201
        message = answer.json()["message"]
        assert message["delivery"]["status"] in ("pending", "sending", "queued")
        eventually(lambda: "Yes, 9 to 5." in sent_to(standin, phone))
        [sent] = [s for s in standin.accepted if s.body == "Yes, 9 to 5."]
        await frames_until(ws, lambda f: delivery_of(f, message["id"]) == "queued")
        assert standin.callback(sent, "sent") == 204
        await frames_until(ws, lambda f: delivery_of(f, message["id"]) == "sent")
        assert standin.callback(sent, "delivered") == 204
        await frames_until(ws, lambda f: delivery_of(f, message["id"]) == "delivered")
    # A late "sent" never moves it back.
    assert standin.callback(sent, "sent") == 204
    history = messages_of(texting, owner, conversation["id"])
    shown = next(m for m in history if m["id"] == message["id"])
    assert shown["delivery"] == {"status": "delivered", "error_code": None, "error_message": None}
    assert sent_to(standin, phone).count("Yes, 9 to 5.") == 1
    # An unsigned callback changes nothing.
    forged = texting.http.post(
        "/webhooks/twilio/status",
        data={"AccountSid": ACCOUNT_SID, "MessageSid": sent.sid, "MessageStatus": "failed"},
    )
    assert forged.status_code == 403


def delivery_of(frame: dict[str, Any], message_id: int) -> str | None:
    if frame.get("event") != "message.updated":
        return None
    message = frame["data"]["message"]
    return message["delivery"]["status"] if message["id"] == message_id else None


def test_refused_text_shows_failed_and_can_be_retried(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """A 400 from Twilio fails the reply with its code, unretried; the agent's retry sends it."""
    phone = new_phone()
    assert post_signed(texting, text_params(phone, "hello")).status_code == 200
    eventually(lambda: sent_to(standin, phone))
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "sms")
    standin.plan(Answer(400, 21610, "Attempt to send to unsubscribed recipient"))
    message = reply(texting, owner, conversation["id"], "Are you there?").json()["message"]

    def delivery() -> dict[str, Any]:
        history = messages_of(texting, owner, conversation["id"])
        return dict(next(m for m in history if m["id"] == message["id"])["delivery"])

    failed = eventually(lambda: delivery()["status"] == "failed" and delivery())
    assert failed["error_code"] == "21610"
    retry_path = f"/api/v1/conversations/{conversation['id']}/messages/{message['id']}/retry"
    stranger = other_tenant_account(texting)
    assert call(texting, stranger, "POST", retry_path).status_code == 404
    retried = call(texting, owner, "POST", retry_path)
    assert retried.status_code == 200
    assert retried.json()["message"]["delivery"]["status"] in ("pending", "sending", "queued")
    eventually(lambda: "Are you there?" in sent_to(standin, phone))
    eventually(lambda: delivery()["status"] == "queued")
    again = call(texting, owner, "POST", retry_path)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_failed"
    assert sent_to(standin, phone).count("Are you there?") == 1


def test_too_long_reply_is_refused_naming_text(texting: AppServer) -> None:
    """An SMS reply over 1600 characters is a 422 naming "text", and is not stored."""
    phone = new_phone()
    assert post_signed(texting, text_params(phone, "hello")).status_code == 200
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "sms")
    refused = reply(texting, owner, conversation["id"], "x" * 1601)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("text:")
    assert "1600" in refused.json()["error"]["message"]
    assert len(messages_of(texting, owner, conversation["id"])) == 2


def test_a_web_visitor_cannot_make_us_text_anyone(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """Posting channel "sms" and a phone from the widget stays a web chat; replies text no one."""
    victim = new_phone()
    session = new_session(texting)
    posted = texting.http.post(
        "/api/v1/widget/messages",
        json={"client_id": "c1", "text": "text " + victim, "channel": "sms", "phone": victim},
        headers=bearer(session["token"]),
    )
    assert posted.status_code == 201
    owner = sign_in_owner(texting)
    listed = call(texting, owner, "GET", "/api/v1/conversations?status=all&limit=200").json()
    [mine] = [c for c in listed["conversations"] if c["visitor"]["id"] == session["visitor"]["id"]]
    assert mine["channel"] == "web"
    assert reply(texting, owner, mine["id"], "Hello " + victim).status_code == 201
    count = query(texting, "SELECT COUNT(*) AS n FROM outbox WHERE to_number = ?", (victim,))
    assert count == [{"n": 0}]
    assert not [s for s in standin.accepted if victim in s.to]


def test_channels_say_whether_texts_are_on(texting: AppServer, start_app: Any) -> None:
    """GET /api/v1/channels says on (with the webhook URL) or off (naming what is missing)."""
    owner = sign_in_owner(texting)
    on = call(texting, owner, "GET", "/api/v1/channels").json()["twilio"]
    assert on["enabled"] is True and on["missing"] == [] and on["circuit"] == "closed"
    assert on["webhook_url"] == PUBLIC + "/webhooks/twilio"
    assert texting.http.get("/api/v1/channels").status_code == 401
    plain = start_app()
    off = call(plain, sign_in_owner(plain), "GET", "/api/v1/channels").json()["twilio"]
    assert off["enabled"] is False
    assert off["missing"] == ["twilio.account_sid", "twilio.auth_token", "twilio.public_base_url"]
    refused = post_signed(plain, text_params(new_phone(), "anyone?"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "channel_off"


def test_escalation_steps_and_alerts_go_out_by_sms(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """Unanswered, the contact gets the patience and escalation texts; on-call gets an alert."""
    admin = other_tenant_account(texting)
    site_number = "+15550029000"
    site_id = give_numbers(texting, site_number, "+15550029001", tenant_slug(texting, admin))
    oncall = new_phone()
    settings = {
        "patience_seconds": 1,
        "patience_text": "Still looking for someone.",
        "escalate_seconds": 2,
        "escalate_text": "Nobody is free; leave your details.",
        "alert_numbers": [oncall],
    }
    patched = call(texting, admin, "PATCH", f"/api/v1/sites/{site_id}", json=settings)
    assert patched.status_code == 200, patched.text
    phone = new_phone()
    assert post_signed(texting, text_params(phone, "anyone?", to=site_number)).status_code == 200
    expected = [GREETING, "Still looking for someone.", "Nobody is free; leave your details."]
    assert eventually(lambda: sent_to(standin, phone) == expected and expected)
    [alert] = eventually(lambda: [s for s in standin.accepted if s.to == oncall])
    assert alert.sender == site_number and "waiting" in alert.body
