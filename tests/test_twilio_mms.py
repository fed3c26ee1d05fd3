"""MMS both ways: media of incoming texts fetched from the Twilio stand-in into attachments,
and staff files sent out as signed `MediaUrl` links."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.agents import call
from tests.app_server import AppServer
from tests.attachments import HTML, PDF, PNG
from tests.servers import server_env
from tests.staff import Account, sign_in_owner
from tests.test_twilio_webhooks import conversation_of, messages_of
from tests.timing import eventually
from tests.twilio_standin import (
    PUBLIC,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    TwilioStandIn,
    give_numbers,
    new_phone,
    post_signed,
    text_params,
    twilio_env,
)


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
    """An app with Twilio configured; the stand-in on loopback is allowed by the egress guard."""
    data_dir = tmp_path_factory.mktemp("mms") / "data"
    env = twilio_env(standin, OMNICHAT_EGRESS_ALLOW_HOSTS="127.0.0.1")
    process = AppServer(data_dir, server_env(data_dir, **env)).start()
    standin.forward_to = process
    give_numbers(process, SMS_NUMBER, WHATSAPP_NUMBER)
    yield process
    process.stop()


def message_with(app: AppServer, owner: Account, conversation_id: int, text: str) -> Any:
    [found] = [m for m in messages_of(app, owner, conversation_id) if m["text"] == text]
    return found


def test_incoming_mms_media_become_attachments_of_the_message(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """The text is stored at once; each media item is then fetched with the account's
    credentials, sniffed (a PNG declared as JPEG is a PNG) and added to that message."""
    phone = new_phone()
    photo = standin.add_media(PNG, "image/jpeg")
    letter = standin.add_media(PDF, "application/pdf")
    params = text_params(
        phone,
        "My prescription",
        NumMedia="2",
        MediaUrl0=photo,
        MediaContentType0="image/jpeg",
        MediaUrl1=letter,
        MediaContentType1="application/pdf",
    )
    assert post_signed(texting, params).status_code == 200
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "sms")

    def fetched() -> list[Any] | None:
        message = message_with(texting, owner, conversation["id"], "My prescription")
        return message["attachments"] if len(message["attachments"]) == 2 else None

    first, second = sorted(eventually(fetched), key=lambda a: str(a["name"]))
    assert (first["name"], first["type"], first["size"]) == ("media-1.png", "image/png", len(PNG))
    assert (second["name"], second["type"]) == ("media-2.pdf", "application/pdf")
    assert texting.http.get(first["url"]).content == PNG
    assert texting.http.get(second["url"]).content == PDF
    path = urlsplit(photo).path
    assert (path, True) in standin.media_requests


def test_a_media_item_that_cannot_be_had_leaves_a_private_note(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """A refused type and a link Twilio answers 404 are given up on: the text stays, with no
    files, and staff get a private note per file saying why; the webhook was answered at once."""
    phone = new_phone()
    page = standin.add_media(HTML, "image/png")
    gone = standin.add_media(b"", "image/png", status=404)
    params = text_params(phone, "two files", NumMedia="2", MediaUrl0=page, MediaUrl1=gone)
    assert post_signed(texting, params).status_code == 200
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "sms")

    def notes() -> list[str] | None:
        found = [
            m["text"]
            for m in messages_of(texting, owner, conversation["id"])
            if m["private"] and m["sender"] == "system"
        ]
        return found if len(found) == 2 else None

    first, second = sorted(eventually(notes))
    assert first.startswith("File 1 of the contact's message") and "text/html" in first
    assert second.startswith("File 2 of the contact's message") and "404" in second
    assert message_with(texting, owner, conversation["id"], "two files")["attachments"] == []


def test_staff_files_go_out_as_signed_media_urls(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """A reply with a PDF reaches Twilio with a MediaUrl on the public URL, signed for about
    a week, that serves the file without any token."""
    phone = new_phone()
    assert post_signed(texting, text_params(phone, "Send me the form")).status_code == 200
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "sms")
    pdf = texting.http.post(
        "/api/v1/attachments", files={"file": ("form.pdf", PDF)}, headers=owner.headers
    ).json()["attachment"]
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    body = {"text": "Here it is", "attachments": [pdf["id"]]}
    sent = call(texting, owner, "POST", path, json=body)
    assert sent.status_code == 201, sent.text
    assert [a["id"] for a in sent.json()["message"]["attachments"]] == [pdf["id"]]

    [out] = eventually(lambda: [s for s in standin.accepted if s.body == "Here it is"])
    assert out.to == phone
    [link] = out.media
    assert link.startswith(f"{PUBLIC}/api/v1/files/{pdf['id']}?")
    expires = int(parse_qs(urlsplit(link).query)["expires"][0])
    assert 6.9 * 86400 < expires - time.time() < 7.1 * 86400
    served = texting.http.get(link.removeprefix(PUBLIC))
    assert served.status_code == 200 and served.content == PDF


def test_files_over_twilios_limits_are_refused_clearly(
    texting: AppServer, standin: TwilioStandIn
) -> None:
    """WhatsApp carries one file per message: two are refused with 422 naming `attachments`
    and nothing is sent; the files stay unsent for another try."""
    phone = new_phone()
    params = text_params(phone, "hi on whatsapp", channel="whatsapp")
    assert post_signed(texting, params).status_code == 200
    owner = sign_in_owner(texting)
    conversation = conversation_of(texting, owner, phone, "whatsapp")
    ids = [
        texting.http.post(
            "/api/v1/attachments", files={"file": (f"{n}.png", PNG)}, headers=owner.headers
        ).json()["attachment"]["id"]
        for n in range(2)
    ]
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    refused = call(texting, owner, "POST", path, json={"text": "two", "attachments": ids})
    assert refused.status_code == 422
    assert "attachments" in refused.json()["error"]["message"]
    one = call(texting, owner, "POST", path, json={"text": "one", "attachments": ids[:1]})
    assert one.status_code == 201
    [out] = eventually(lambda: [s for s in standin.accepted if s.body == "one"])
    assert len(out.media) == 1 and "two" not in [s.body for s in standin.accepted]
