"""Files for the attachment tests, and uploading them as a browser would (multipart)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.servers import Server

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def upload(
    server: Server, path: str, headers: dict[str, str], name: str, data: bytes
) -> httpx.Response:
    """POST one file as the `file` part of a multipart body."""
    return server.http.post(
        path, files={"file": (name, data, "application/octet-stream")}, headers=headers
    )


def uploaded(server: Server, path: str, headers: dict[str, str], name: str, data: bytes) -> Any:
    response = upload(server, path, headers, name, data)
    assert response.status_code == 201, response.text
    return response.json()["attachment"]
