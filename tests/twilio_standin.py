"""A stand-in for Twilio's REST API: a small real HTTP server on loopback.

It answers `POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio (basic auth, form body,
201 with a message sid, the `MediaUrl` parameters recorded), serves media a test adds at
`.../Messages/{MM}/Media/{ME}` the way Twilio does (basic auth, then a redirect to an
unauthenticated storage link), or with the answers a test plans (500s, a 400 with a Twilio
error code, 429...), records what it received, can hold requests open (a provider that accepted
but never answered), and sends signed status callbacks to the URL each message named, the way
Twilio does.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pytest

from omnichat.twilio import signature
from tests.servers import Server, query
from tests.timing import UNIT, eventually

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
    media: tuple[str, ...] = ()


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
        # Media served to the server under test: path -> (status, content type, bytes).
        self.media: dict[str, tuple[int, str, bytes]] = {}
        # (path, whether it carried our credentials) for every media request.
        self.media_requests: list[tuple[str, bool]] = []
        # Cleared: requests are recorded (and accepted), then held without an answer.
        self.release = threading.Event()
        self.release.set()
        # The server under test; callbacks are signed for the public URL they name but delivered
        # to it, as a reverse proxy would.
        self.public_base = ""
        self.forward_to: Server | None = None
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

    def add_media(self, data: bytes, content_type: str, status: int = 200) -> str:
        """A media link as an incoming MMS webhook names it; fetching it answers `data`."""
        path = (
            f"/2010-04-01/Accounts/{self.account_sid}/Messages/MM{uuid.uuid4().hex}"
            f"/Media/ME{uuid.uuid4().hex}"
        )
        with self._lock:
            self.media[path] = (status, content_type, data)
        return self.base_url + path

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10 * UNIT) -> list[Sent]:
        """The accepted messages, once there are at least `count` (else AssertionError)."""

        def enough() -> list[Sent] | None:
            with self._lock:
                return list(self.accepted) if len(self.accepted) >= count else None

        def what() -> str:
            return f"{count} accepted messages (the stand-in has {len(self.accepted)})"

        return list(eventually(enough, timeout, what))

    def wait_requests(self, count: int, timeout: float = 10 * UNIT) -> list[dict[str, str]]:
        def enough() -> list[dict[str, str]] | None:
            with self._lock:
                return list(self.requests) if len(self.requests) >= count else None

        def what() -> str:
            return f"{count} requests (the stand-in has {len(self.requests)})"

        return list(eventually(enough, timeout, what))

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
        assert self.forward_to is not None and url.startswith(self.public_base), url
        headers = {
            "X-Twilio-Signature": signature.compute(url, params.items(), self.auth_token),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        path = url.removeprefix(self.public_base)
        return self.forward_to.http.post(
            path, content=urlencode(params), headers=headers
        ).status_code

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                credentials = base64.b64encode(
                    f"{standin.account_sid}:{standin.auth_token}".encode()
                ).decode()
                authorized = self.headers.get("Authorization") == f"Basic {credentials}"
                with standin._lock:
                    standin.media_requests.append((self.path, authorized))
                if self.path.startswith("/storage/"):
                    # Like Twilio's storage links: no credentials needed (nor wanted).
                    found = standin.media.get(self.path.removeprefix("/storage"))
                    if found is None:
                        return self._reply(404, {"code": 20404, "message": "not found"})
                    status, kind, data = found
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                if not authorized:
                    return self._reply(401, {"code": 20003, "message": "Authenticate"})
                if self.path not in standin.media:
                    return self._reply(404, {"code": 20404, "message": "not found"})
                if standin.media[self.path][0] != 200:
                    status = standin.media[self.path][0]
                    return self._reply(status, {"code": status, "message": "planned"})
                self.send_response(307)
                self.send_header("Location", "/storage" + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                pairs = parse_qsl(self.rfile.read(length).decode())
                form = dict(pairs)
                media = tuple(value for key, value in pairs if key == "MediaUrl")
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
                            media,
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


# Talking to the server under test the way Twilio does.


PUBLIC = "https://chat.example.test"
SMS_NUMBER = "+15550019000"
WHATSAPP_NUMBER = "+15550019001"


def twilio_env(standin: TwilioStandIn, **overrides: str) -> dict[str, str]:
    return {
        "OMNICHAT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "OMNICHAT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "OMNICHAT_TWILIO_PUBLIC_BASE_URL": PUBLIC,
        "OMNICHAT_TWILIO_API_BASE_URL": standin.base_url,
        "OMNICHAT_TWILIO_RETRY_BASE_SECONDS": "0.05",
        "OMNICHAT_TWILIO_RETRY_MAX_SECONDS": "0.2",
        "OMNICHAT_TWILIO_PER_NUMBER_PER_MINUTE": "0",
        "OMNICHAT_LIMITS_LOGINS_PER_MINUTE_PER_IP": "0",
        **overrides,
    }


def give_numbers(server: Server, sms: str, whatsapp: str, tenant: str = "default") -> int:
    """Give the tenant's first site its Twilio numbers; returns the site id."""
    # Written to the database directly until the sites API accepts the numbers.
    site_id = query(
        server,
        "SELECT s.id FROM sites s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = ?"
        " ORDER BY s.id LIMIT 1",
        (tenant,),
    )[0]["id"]
    query(
        server,
        "UPDATE sites SET sms_number = ?, whatsapp_number = ? WHERE id = ?",
        (sms, whatsapp, site_id),
    )
    return int(site_id)


def new_phone() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def text_params(
    phone: str, body: str, channel: str = "sms", to: str | None = None, **extra: str
) -> dict[str, str]:
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    to = to or (WHATSAPP_NUMBER if channel == "whatsapp" else SMS_NUMBER)
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": prefix + phone,
        "To": prefix + to,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def post_signed(
    server: Server,
    params: dict[str, str],
    *,
    path: str = "/webhooks/twilio",
    signed_url: str | None = None,
    token: str = AUTH_TOKEN,
    signature_header: str | None = None,
) -> httpx.Response:
    """POST a form as Twilio would, signed for the public URL unless told otherwise."""
    url = signed_url or PUBLIC + path
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    value = signature.compute(url, params.items(), token)
    if signature_header is not None:
        value = signature_header  # "" sends none
    if value:
        headers["X-Twilio-Signature"] = value
    return server.http.post(path, content=urlencode(params), headers=headers)


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    """A Twilio API stand-in on a free loopback port, closed after the test."""
    server = TwilioStandIn()
    yield server
    server.close()
