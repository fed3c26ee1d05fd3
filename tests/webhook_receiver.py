"""A webhook receiver on loopback for the tests: a threaded http.server that records what it
is sent and answers as planned (a status, or a delay longer than the sender's timeout), and a
signature check written from docs/integrations.md, independent of the server's code."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tests.timing import UNIT, eventually


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))

    @property
    def delivery(self) -> str:
        return self.headers["omnichat-delivery"]


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> None:
    """Check `Omnichat-Signature: t=UNIX,v1=HEX` as a receiver should, raising when wrong."""
    parts = dict(item.split("=", 1) for item in headers["omnichat-signature"].split(","))
    timestamp = int(parts["t"])
    assert abs(time.time() - timestamp) <= tolerance, "signature timestamp too old"
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), parts["v1"]), "bad signature"


@dataclass
class Receiver:
    """Answers each POST with the next planned answer (an int status, or a float: seconds to
    sleep before a 200), then 200."""

    port: int = 0
    plan: list[int | float] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(Received(headers, body))
                    answer = receiver.plan.pop(0) if receiver.plan else 200
                if isinstance(answer, float):
                    time.sleep(answer)
                    answer = 200
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def of(self, event: str, conversation_id: int | None = None) -> list[Received]:
        """What arrived for `event` (about `conversation_id`, when given)."""
        found = [item for item in self.received if item.json["event"] == event]
        if conversation_id is not None:
            found = [item for item in found if _conversation_id(item.json) == conversation_id]
        return found

    def wait_for(
        self, event: str, conversation_id: int | None = None, count: int = 1
    ) -> list[Received]:
        return list(
            eventually(
                lambda: (
                    len(self.of(event, conversation_id)) >= count
                    and self.of(event, conversation_id)
                ),
                10 * UNIT,
                f"{count} {event} deliveries",
            )
        )


def _conversation_id(body: dict[str, Any]) -> int | None:
    data = body["data"]
    if "conversation" in data:
        return int(data["conversation"]["id"])
    if "followup" in data:
        return int(data["followup"]["conversation_id"] or 0)
    return None
