"""Parsing the frames a visitor's socket sends: no I/O, so it is tested without a server."""

from __future__ import annotations

from dataclasses import dataclass

from omnichat.chat.attachments import clean_ids
from omnichat.chat.messages import clean_client_id, clean_text
from omnichat.chat.visitor_context import clean_field
from omnichat.errors import Invalid
from omnichat.protocol.frames import FrameError, decode, non_negative_int, unknown


@dataclass(frozen=True)
class Hello:
    token: str
    last_seq: int


@dataclass(frozen=True)
class Send:
    client_id: str
    text: str
    attachments: tuple[int, ...] = ()


@dataclass(frozen=True)
class Typing:
    on: bool


@dataclass(frozen=True)
class Seen:
    seq: int


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Navigate:
    """`{"type":"page","url","title"}`: the visitor opened another page of the site."""

    url: str
    title: str | None


Frame = Hello | Send | Typing | Seen | Ping | Navigate


def parse(text: str | bytes) -> Frame:
    """One frame from its JSON text; raises `FrameError` saying what is wrong."""
    data = decode(text)
    kind = data.get("type")
    if kind == "message":
        try:
            client_id = clean_client_id(data.get("client_id")) or ""
        except Invalid as exc:
            raise FrameError(exc.message, code=exc.code) from None
        try:
            files = clean_ids(data.get("attachments"))
            return Send(client_id, clean_text(data.get("text"), may_be_empty=bool(files)), files)
        except Invalid as exc:
            # Naming the client id lets the widget mark that one message as refused.
            raise FrameError(exc.message, code=exc.code, client_id=client_id) from None
    if kind == "typing":
        return Typing(bool(data.get("on")))
    if kind == "seen":
        return Seen(non_negative_int(data.get("seq"), "seq"))
    if kind == "ping":
        return Ping()
    if kind == "page":
        try:
            url = clean_field("url", data.get("url"), "url")
            title = clean_field("title", data.get("title"), "title")
        except Invalid as exc:
            raise FrameError(exc.message, code=exc.code) from None
        if url is None:
            raise FrameError("url: is required", code="invalid_field")
        return Navigate(url, title)
    if kind == "hello":
        token = data.get("token")
        if not isinstance(token, str):
            raise FrameError("hello needs a token", code="invalid_field")
        return Hello(token, non_negative_int(data.get("last_seq", 0), "last_seq"))
    raise unknown(kind)
