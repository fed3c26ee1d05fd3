"""A push service stand-in on loopback, and a browser-like subscription that decrypts what it
receives (RFC 8291 with http_ece, the test's own keys)."""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.servers import free_port


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Pushed:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Device:
    """A browser's subscription keys: the service encrypts to them, the test decrypts."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(public), "auth": b64(self.auth)}}

    def decrypt(self, pushed: Pushed) -> dict[str, Any]:
        plain = http_ece.decrypt(
            pushed.body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return dict(orjson.loads(plain))


class PushService:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Pushed] = []
        self.status = 201
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with service._lock:
                    service.received.append(Pushed(self.path, dict(self.headers.items()), body))
                self.send_response(service.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> PushService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def device(self, name: str) -> Device:
        return Device(f"http://127.0.0.1:{self.port}/push/{name}")

    def to(self, device: Device) -> list[Pushed]:
        path = device.endpoint.split(str(self.port), 1)[1]
        with self._lock:
            return [pushed for pushed in self.received if pushed.path == path]
