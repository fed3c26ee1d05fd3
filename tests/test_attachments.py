"""Attachments over the real app: uploads, sniffing, limits, sending, ownership, links, serving."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from omnichat.signing import Signer
from tests.agents import agent_socket, next_frame
from tests.app_server import AppServer
from tests.attachments import HTML, PDF, PNG, SVG, upload, uploaded
from tests.servers import query
from tests.staff import Account, other_tenant_account
from tests.timing import eventually
from tests.visitors import bearer, new_session, send, visitor_socket

WIDGET = "/api/v1/widget/attachments"
STAFF = "/api/v1/attachments"


def visitor(app: AppServer) -> str:
    return str(new_session(app)["token"])


def visitor_sends(app: AppServer, token: str, ids: list[int], text: str = "") -> Any:
    response = app.http.post(
        "/api/v1/widget/messages",
        json={"client_id": uuid.uuid4().hex, "text": text, "attachments": ids},
        headers=bearer(token),
    )
    return response


def test_visitor_png_named_pdf_is_a_png_and_is_served_safely(app: AppServer) -> None:
    """A PNG named .pdf is stored as image/png and served inline with the safety headers."""
    token = visitor(app)
    attachment = uploaded(app, WIDGET, bearer(token), "scan.pdf", PNG)
    assert attachment["type"] == "image/png" and attachment["size"] == len(PNG)
    assert attachment["name"] == "scan.pdf" and "token" not in attachment["url"]
    served = app.http.get(attachment["url"])
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert served.headers["content-disposition"].startswith("inline;")
    assert served.headers["cache-control"].startswith("private")


def test_pdf_downloads_as_an_attachment_with_a_safe_name(app: AppServer, owner: Account) -> None:
    """A PDF is served as a download whose header carries a cleaned UTF-8 name (RFC 6266)."""
    attachment = uploaded(app, STAFF, owner.headers, "../../évil:name.pdf", PDF)
    assert attachment["name"] == "évil_name.pdf"
    served = app.http.get(attachment["url"])
    disposition = served.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%C3%A9vil_name.pdf" in disposition
    assert served.headers["content-type"] == "application/pdf"


def test_html_named_png_and_svg_are_refused(app: AppServer) -> None:
    """Markup is refused with 415 whatever its name; nothing is stored."""
    token = visitor(app)
    for name, data in (("photo.png", HTML), ("logo.svg", SVG), ("x.png", b"MZ\x90\x00" * 40)):
        response = upload(app, WIDGET, bearer(token), name, data)
        assert response.status_code == 415, response.text
        assert response.json()["error"]["code"] == "unsupported_type"


def test_plain_text_is_accepted(app: AppServer) -> None:
    """UTF-8 text is text/plain and is served as a download."""
    token = visitor(app)
    attachment = uploaded(app, WIDGET, bearer(token), "notes.txt", "héllo\n".encode())
    assert attachment["type"] == "text/plain"
    served = app.http.get(attachment["url"])
    assert served.headers["content-disposition"].startswith("attachment;")


def test_too_large_is_refused_with_413(start_app: Callable[..., AppServer]) -> None:
    """A file over `[attachments] max_bytes` is refused with 413 too_large."""
    small = start_app(OMNICHAT_ATTACHMENTS_MAX_BYTES="1000")
    token = str(new_session(small)["token"])
    response = upload(small, WIDGET, bearer(token), "big.pdf", PDF + b" " * 2000)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert query(small, "SELECT COUNT(*) AS n FROM attachments") == [{"n": 0}]


def test_upload_needs_one_file_part(app: AppServer, owner: Account) -> None:
    """A body without a `file` part is 422 naming `file`; a non-multipart body is 400."""
    response = app.http.post(STAFF, files={"other": ("a.png", PNG)}, headers=owner.headers)
    assert response.status_code == 422 and "file" in response.json()["error"]["message"]
    response = app.http.post(STAFF, json={"file": "x"}, headers=owner.headers)
    assert response.status_code == 400


def test_visitor_sends_files_without_text_and_agents_see_them(
    app: AppServer, owner: Account
) -> None:
    """A message of files only carries them in its JSON for the visitor and for agents."""
    token = visitor(app)
    first = uploaded(app, WIDGET, bearer(token), "a.png", PNG)
    second = uploaded(app, WIDGET, bearer(token), "b.pdf", PDF)
    response = visitor_sends(app, token, [first["id"], second["id"]])
    assert response.status_code == 201, response.text
    message = response.json()["message"]
    assert message["text"] == ""
    assert [a["id"] for a in message["attachments"]] == [first["id"], second["id"]]
    listed = app.http.get(
        f"/api/v1/conversations/{message['conversation_id']}/messages", headers=owner.headers
    ).json()["messages"]
    assert listed[-1]["attachments"][1]["name"] == "b.pdf"
    again = visitor_sends(app, token, [first["id"]])
    assert again.status_code == 422 and "attachments" in again.json()["error"]["message"]


def test_visitor_cannot_send_or_read_another_visitors_file(app: AppServer) -> None:
    """Visitor B can neither send nor look up visitor A's file."""
    a, b = visitor(app), visitor(app)
    attachment = uploaded(app, WIDGET, bearer(a), "a.png", PNG)
    assert visitor_sends(app, b, [attachment["id"]]).status_code == 422
    assert app.http.get(f"{WIDGET}/{attachment['id']}", headers=bearer(b)).status_code == 404
    mine = app.http.get(f"{WIDGET}/{attachment['id']}", headers=bearer(a))
    assert mine.status_code == 200 and mine.json()["attachment"]["id"] == attachment["id"]


def test_other_tenants_staff_get_404_and_cannot_send(app: AppServer, owner: Account) -> None:
    """Staff of another tenant cannot look up or send this tenant's files."""
    attachment = uploaded(app, STAFF, owner.headers, "form.pdf", PDF)
    stranger = other_tenant_account(app)
    assert app.http.get(f"{STAFF}/{attachment['id']}", headers=stranger.headers).status_code == 404
    assert app.http.get(f"{STAFF}/{attachment['id']}", headers=owner.headers).status_code == 200
    token = visitor(app)
    conversation = visitor_sends(app, token, [], "hello").json()["message"]["conversation_id"]
    response = app.http.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"text": "", "attachments": [attachment["id"]]},
        headers=stranger.headers,
    )
    assert response.status_code == 404


def test_more_than_five_files_or_bad_ids_are_422(app: AppServer) -> None:
    """At most five distinct ids per message; other shapes are 422 naming `attachments`."""
    token = visitor(app)
    for value in ([1, 2, 3, 4, 5, 6], [1, 1], ["x"], "1"):
        response = visitor_sends(app, token, value)  # type: ignore[arg-type]
        assert response.status_code == 422
        assert "attachments" in response.json()["error"]["message"]
    empty = visitor_sends(app, token, [])
    assert empty.status_code == 422 and "text" in empty.json()["error"]["message"]


def test_tampered_and_expired_links_are_refused(app: AppServer) -> None:
    """A link with a changed id or signature, or past its expiry, is 403 with the envelope."""
    token = visitor(app)
    attachment = uploaded(app, WIDGET, bearer(token), "a.png", PNG)
    url = attachment["url"]
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    response = app.http.get(tampered)
    assert response.status_code == 403 and response.json()["error"]["code"] == "invalid_link"
    other_id = url.replace(f"/files/{attachment['id']}?", f"/files/{attachment['id'] + 1}?")
    assert app.http.get(other_id).status_code == 403
    signer = Signer((app.data_dir / "secret_key").read_text().strip())
    past = int(time.time()) - 10
    signature = signer.signature("file", str(attachment["id"]), past)
    expired = app.http.get(f"/api/v1/files/{attachment['id']}?expires={past}&signature={signature}")
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "link_expired"


def test_range_requests_get_partial_content(app: AppServer, owner: Account) -> None:
    """`Range: bytes=A-B` answers 206 with those bytes; a range past the end is 416."""
    attachment = uploaded(app, STAFF, owner.headers, "doc.pdf", PDF)
    partial = app.http.get(attachment["url"], headers={"Range": "bytes=5-9"})
    assert partial.status_code == 206 and partial.content == PDF[5:10]
    assert partial.headers["content-range"] == f"bytes 5-9/{len(PDF)}"
    tail = app.http.get(attachment["url"], headers={"Range": "bytes=-4"})
    assert tail.content == PDF[-4:]
    beyond = app.http.get(attachment["url"], headers={"Range": f"bytes={len(PDF)}-"})
    assert beyond.status_code == 416
    big = PDF + bytes(range(256)) * 3000  # three 256 KiB slices
    large = uploaded(app, STAFF, owner.headers, "big.pdf", big)
    across = app.http.get(large["url"], headers={"Range": "bytes=262000-524400"})
    assert across.content == big[262000:524401]
    assert app.http.get(large["url"]).content == big


async def test_attachments_in_welcome_replay_events_and_notes(
    app: AppServer, owner: Account
) -> None:
    """Files reach the visitor's welcome and live frames and the agents' events; a note's
    files stay with staff."""
    token = visitor(app)
    conversation = visitor_sends(app, token, [], "hi").json()["message"]["conversation_id"]
    messages_path = f"/api/v1/conversations/{conversation}/messages"
    async with agent_socket(app, owner.access_token) as (agent_ws, _):
        pdf = uploaded(app, STAFF, owner.headers, "form.pdf", PDF)
        note_file = uploaded(app, STAFF, owner.headers, "private.png", PNG)
        async with visitor_socket(app, token, last_seq=0) as (ws, welcome):
            assert all("attachments" in m for m in welcome["messages"])
            note = app.http.post(
                messages_path,
                json={"text": "for staff", "private": True, "attachments": [note_file["id"]]},
                headers=owner.headers,
            )
            assert note.status_code == 201, note.text
            reply = app.http.post(
                messages_path, json={"text": "", "attachments": [pdf["id"]]}, headers=owner.headers
            )
            assert reply.status_code == 201, reply.text
            frame = await next_frame(ws, "message")
            assert frame["message"]["attachments"][0]["name"] == "form.pdf"
            assert app.http.get(frame["message"]["attachments"][0]["url"]).content == PDF
        event = await next_frame(agent_ws, "event")
        while event["data"]["message"]["text"] != "for staff":
            event = await next_frame(agent_ws, "event")
        assert event["data"]["message"]["attachments"][0]["name"] == "private.png"
    async with visitor_socket(app, token, last_seq=0) as (_, replay):
        names = [a["name"] for m in replay["messages"] for a in m["attachments"]]
        assert names == ["form.pdf"]
    polled = app.http.get("/api/v1/widget/messages?after=0", headers=bearer(token)).json()
    assert [a["name"] for m in polled["messages"] for a in m["attachments"]] == ["form.pdf"]
    assert app.http.get(f"{WIDGET}/{note_file['id']}", headers=bearer(token)).status_code == 404
    assert app.http.get(f"{WIDGET}/{pdf['id']}", headers=bearer(token)).status_code == 200


async def test_visitor_socket_message_frame_carries_attachments(app: AppServer) -> None:
    """The socket's `message` frame takes `attachments`, and the ack carries them."""
    token = visitor(app)
    attachment = uploaded(app, WIDGET, bearer(token), "a.png", PNG)
    async with visitor_socket(app, token) as (ws, _):
        frame = {
            "type": "message",
            "client_id": "c1",
            "text": "",
            "attachments": [attachment["id"]],
        }
        await send(ws, frame)
        ack = await next_frame(ws, "ack")
        assert ack["message"]["attachments"][0]["id"] == attachment["id"]


def test_retention_expires_old_files_and_keeps_the_message(
    start_app: Callable[..., AppServer],
) -> None:
    """Past `retention_days` a file's bytes go; its message says it expired, with no link."""
    made = start_app(OMNICHAT_ATTACHMENTS_RETENTION_DAYS="1")
    token = str(new_session(made)["token"])
    attachment = uploaded(made, WIDGET, bearer(token), "old.png", PNG)
    assert visitor_sends(made, token, [attachment["id"]]).status_code == 201
    made.stop()
    query(made, "UPDATE attachments SET created_at = '2000-01-01T00:00:00Z'")
    made.start()  # the retention job runs at start, then daily

    def expired() -> Any:
        messages = made.http.get("/api/v1/widget/messages", headers=bearer(token)).json()
        found = [a for m in messages["messages"] for a in m["attachments"]]
        return found and found[0]["expired"] and found

    [shown] = eventually(expired, what="the file to expire")
    assert shown["url"] is None and shown["name"] == "old.png"
    assert made.http.get(attachment["url"]).status_code == 404
    assert query(made, "SELECT COUNT(*) AS n FROM attachment_chunks") == [{"n": 0}]
