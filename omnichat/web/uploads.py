"""Reading one uploaded file from a `multipart/form-data` body as it streams in.

The body is parsed chunk by chunk (python-multipart's push parser) into a temporary file that
stays in memory up to 1 MiB and spills to disk beyond: a 10 MB upload is never held whole, let
alone twice. The size limit is checked on every chunk, so an oversized upload is refused with
413 as soon as it passes the limit, not after it has all arrived.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from omnichat.errors import BadRequest, Invalid, TooLarge

SPOOL_IN_MEMORY = 1024 * 1024
# The multipart framing around the file: boundaries and part headers.
FRAMING_ALLOWANCE = 16 * 1024


@dataclass
class Upload:
    """The `file` part: its name as sent, its spooled bytes, their size and first bytes."""

    name: str | None
    spool: IO[bytes]
    size: int = 0
    head: bytes = b""
    parts: int = 0
    _headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    _field: bytes = b""
    _value: bytes = b""
    _in_file: bool = False


async def read_file(request: Request, max_bytes: int, head_bytes: int) -> Upload:
    """The request's one `file` part, spooled; 413 past `max_bytes`, 400/422 for bad bodies.

    The caller closes `spool` (deleting the temporary file)."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest("send the file as multipart/form-data", code="malformed_body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FRAMING_ALLOWANCE:
        raise TooLarge(f"files may be at most {max_bytes} bytes")
    upload = Upload(None, tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115

    def on_part_begin() -> None:
        upload._headers = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        upload._field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        upload._value += data[start:end]

    def on_header_end() -> None:
        upload._headers.append((upload._field.lower(), upload._value))
        upload._field = upload._value = b""

    def on_headers_finished() -> None:
        disposition = dict(upload._headers).get(b"content-disposition", b"")
        _, params = parse_options_header(disposition)
        upload._in_file = params.get(b"name") == b"file"
        if upload._in_file:
            upload.parts += 1
            filename = params.get(b"filename")
            upload.name = None if filename is None else filename.decode("utf-8", "replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if not upload._in_file or upload.parts > 1:
            return
        piece = data[start:end]
        upload.size += len(piece)
        if upload.size > max_bytes:
            raise TooLarge(f"files may be at most {max_bytes} bytes")
        if len(upload.head) < head_bytes:
            upload.head += piece[: head_bytes - len(upload.head)]
        upload.spool.write(piece)

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        upload.spool.close()
        raise BadRequest("the multipart body is malformed", code="malformed_body") from None
    except BaseException:
        upload.spool.close()
        raise
    if upload.parts != 1:
        upload.spool.close()
        raise Invalid("file", "send exactly one part named file")
    if upload.size == 0:
        upload.spool.close()
        raise Invalid("file", "must not be empty")
    return upload
