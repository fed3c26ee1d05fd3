"""A stand-in for Twilio's REST API: a small real HTTP server on loopback.

It answers `POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio (basic auth, form body,
201 with a message sid), or with the answers a test plans (500s, a 400 with a Twilio error code,
429...), records what it received, can hold requests open (a provider that accepted but never
answered), and sends signed status callbacks to the URL each message named, the way Twilio does.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pytest

from omnichat.twilio import signature
from tests.conftest import UNIT

ACCOUNT_SID = "AC" + "0" * 30 + "01"
AUTH_TOKEN = "standin-auth-token-0123456789abcdef"


@dataclass
class Sent:
    """A message the stand-in accepted."""

    sid: str
    to: str
    sender: str
    body: str
    status_callback: str


@dataclass(frozen=True)
class Answer:
    status: int
    code: int | None = None
    message: str = ""
    retry_after: str | None = None


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up on a held request (its timeout) is part of the tests.
        pass


class TwilioStandIn:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[dict[str, str]] = []
        self.request_times: list[float] = []
        self.accepted: list[Sent] = []
        self.planned: list[Answer] = []
        # Cleared: requests are recorded (and accepted), then held without an answer.
        self.release = threading.Event()
        self.release.set()
        # Where the server under test really listens; callbacks are signed for the public URL
        # they name but delivered here, as a reverse proxy would.
        self.public_base = ""
        self.forward_to = ""
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._server = QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def plan(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order; then accept again."""
        with self._lock:
            self.planned.extend(answers)

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10 * UNIT) -> list[Sent]:
        """The accepted messages, once there are at least `count` (else AssertionError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.accepted) >= count:
                    return list(self.accepted)
            time.sleep(0.02)
        raise AssertionError(f"stand-in accepted {len(self.accepted)} messages, wanted {count}")

    def wait_requests(self, count: int, timeout: float = 10 * UNIT) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"stand-in got {len(self.requests)} requests, wanted {count}")

    def callback(self, sent: Sent, status: str, error_code: str | None = None) -> int:
        """Post a signed status callback for `sent`, as Twilio would; returns the HTTP status."""
        params = {
            "AccountSid": self.account_sid,
            "MessageSid": sent.sid,
            "SmsSid": sent.sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": sent.to,
            "From": sent.sender,
            "ApiVersion": "2010-04-01",
        }
        if error_code is not None:
            params["ErrorCode"] = error_code
        url = sent.status_callback
        target = url.replace(self.public_base, self.forward_to, 1) if self.public_base else url
        headers = {
            "X-Twilio-Signature": signature.compute(url, params.items(), self.auth_token),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return httpx.post(target, content=urlencode(params), headers=headers).status_code

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                expected = f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
                credentials = base64.b64encode(
                    f"{standin.account_sid}:{standin.auth_token}".encode()
                ).decode()
                if self.path != expected:
                    return self._reply(404, {"code": 20404, "message": "not found"})
                if self.headers.get("Authorization") != f"Basic {credentials}":
                    return self._reply(401, {"code": 20003, "message": "Authenticate"})
                with standin._lock:
                    standin.requests.append(form)
                    standin.request_times.append(time.monotonic())
                    answer = standin.planned.pop(0) if standin.planned else Answer(201)
                    sent = None
                    if answer.status == 201:
                        sent = Sent(
                            f"SM{next(standin._sids):032x}",
                            form.get("To", ""),
                            form.get("From", ""),
                            form.get("Body", ""),
                            form.get("StatusCallback", ""),
                        )
                        standin.accepted.append(sent)
                if not standin.release.wait(60):
                    return None
                if sent is not None:
                    return self._reply(
                        201, {"sid": sent.sid, "status": "queued", "to": sent.to, "body": sent.body}
                    )
                headers = {} if answer.retry_after is None else {"Retry-After": answer.retry_after}
                return self._reply(
                    answer.status, {"code": answer.code, "message": answer.message}, headers
                )

            def _reply(
                self, status: int, data: dict[str, object], headers: dict[str, str] | None = None
            ) -> None:
                body = orjson.dumps(data)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    """A Twilio API stand-in on a free loopback port, closed after the test."""
    server = TwilioStandIn()
    yield server
    server.close()
