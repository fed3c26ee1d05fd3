"""HTTP basics: health, metrics, errors, request ids, headers, pages.

In process, except what only a real server shows: its log, and uvicorn's limit on request heads.
"""

from __future__ import annotations

import json
import socket
import time
import uuid

import httpx
import pytest

from tests.app_server import AppServer
from tests.servers import OWNER_PASSWORD, ServerProcess
from tests.staff import Account, sign_in_owner
from tests.timing import UNIT
from tests.visitors import default_site_key, new_session, next_frame, send, visitor_socket


def test_health_live_and_ready(app: AppServer) -> None:
    """Liveness answers ok; readiness names each check it made."""
    assert app.http.get("/health/live").json() == {"status": "ok"}
    ready = app.http.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "ok"
    assert ready.json()["checks"]["scheduler"] == "ok"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no/such/page", 404, "not_found"),
        ("POST", "/health/live", 405, "method_not_allowed"),
    ],
)
def test_errors_use_the_envelope(
    app: AppServer, method: str, path: str, status: int, code: str
) -> None:
    """404 and 405 answer with the contract's JSON error envelope."""
    response = app.http.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/conversations/{id}"),
        ("POST", "/api/v1/followups/{id}/view"),
        ("PATCH", "/api/v1/users/{id}"),
        ("PATCH", "/api/v1/sites/{id}"),
        ("POST", "/api/v1/conversations/{id}/messages/{id}/retry"),
    ],
)
def test_ids_too_large_to_exist_are_not_found(
    app: AppServer, owner: Account, method: str, path: str
) -> None:
    """An id past SQLite's 64-bit integers is 404 on every route that takes one, never a 500."""
    url = path.format(id=2**64)
    response = app.http.request(method, url, json={"name": "x"}, headers=owner.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_oversized_request_heads_are_refused(server: ServerProcess) -> None:
    """A request head still growing past 16 KiB is refused with 431, never buffered to whatever
    size a client sends; ordinary heads pass."""
    unfinished = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000
    with socket.create_connection(("127.0.0.1", server.port), timeout=5 * UNIT) as sock:
        sock.sendall(unfinished)
        assert sock.recv(100).startswith(b"HTTP/1.1 431 ")
    fine = server.http.get("/health/live", headers={"X-Fine": "a" * 8000})
    assert fine.status_code == 200


def test_a_client_leaving_mid_body_is_not_a_server_error(server: ServerProcess) -> None:
    """Truncated bodies (Content-Length 1000, 10 bytes sent, then gone) log no unhandled error,
    record no 500 and are counted as client disconnects."""

    def disconnects() -> float:
        text = httpx.get(f"{server.base_url}/metrics").text
        line = 'omnichat_http_client_disconnects_total{route="/api/v1/auth/login"}'
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    before, crashes = disconnects(), server.logs().count("unhandled error")
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5 * UNIT) as sock:
            sock.sendall(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                b'{"email":1'
            )
    deadline = time.monotonic() + 5 * UNIT
    while disconnects() < before + 5:
        assert time.monotonic() < deadline, "the disconnects were not counted"
        time.sleep(0.05)
    assert server.logs().count("unhandled error") == crashes
    text = httpx.get(f"{server.base_url}/metrics").text
    assert 'route="/api/v1/auth/login",status="500"' not in text


def test_request_id_is_kept_when_sane_and_logged(server: ServerProcess) -> None:
    """A sane X-Request-ID comes back and appears in the request's log line; junk is replaced."""
    response = server.http.get("/health/live", headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["x-request-id"] == "abc-123.x"
    junk = server.http.get("/health/live", headers={"X-Request-ID": "<script>" * 20})
    assert junk.headers["x-request-id"] != "<script>" * 20
    assert len(junk.headers["x-request-id"]) == 32
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    mine = [entry for entry in lines if entry.get("request_id") == "abc-123.x"]
    assert mine and mine[0]["path"] == "/health/live" and mine[0]["status"] == 200
    assert "duration_ms" in mine[0] and mine[0]["method"] == "GET"


def test_security_headers_on_every_response(app: AppServer) -> None:
    """Pages and errors carry CSP, nosniff, a referrer policy and frame denial."""
    for path in ("/", "/health/live", "/missing"):
        headers = app.http.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


def test_authenticated_and_token_answers_are_never_stored(server: ServerProcess) -> None:
    """Staff data, the widget session (its body holds the visitor token), visitor messages and
    errors all say Cache-Control: no-store, so no browser or proxy cache keeps them."""
    staff = sign_in_owner(server)
    session = new_session(server)
    visitor = {"Authorization": f"Bearer {session['token']}"}
    answers = {
        "login": httpx.post(
            f"{server.base_url}/api/v1/auth/login",
            json={"email": staff.user["email"], "password": OWNER_PASSWORD},
        ),
        "widget session": httpx.post(
            f"{server.base_url}/api/v1/widget/session",
            json={"site_key": default_site_key(server), "token": session["token"]},
        ),
        "widget messages": httpx.get(
            f"{server.base_url}/api/v1/widget/messages?after=0", headers=visitor
        ),
        "unauthenticated": httpx.get(f"{server.base_url}/api/v1/auth/me"),
    }
    for path in ("auth/me", "conversations", "users", "audit", "sites", "backups"):
        answers[path] = httpx.get(f"{server.base_url}/api/v1/{path}", headers=staff.headers)
    for name, response in answers.items():
        assert response.status_code < 500, (name, response.text)
        assert response.headers.get("cache-control") == "no-store", name


def test_metrics_count_requests_by_route_template(app: AppServer) -> None:
    """/metrics is Prometheus text with request counts and latency histograms per route."""
    app.http.get("/health/live")
    text = app.http.get("/metrics").text
    assert 'omnichat_http_requests_total{method="GET",route="/health/live",status="200"}' in text
    assert "omnichat_http_request_duration_seconds_bucket" in text
    app.http.get("/random/path/12345")
    text = app.http.get("/metrics").text
    assert "/random/path/12345" not in text


def test_metrics_refuse_clients_outside_the_allowed_addresses(start_server) -> None:  # type: ignore[no-untyped-def]
    """/metrics answers loopback, and 403 in the envelope to an internet client coming through a
    proxy on this host (X-Forwarded-For from the trusted 127.0.0.1), which it used to serve."""
    process: ServerProcess = start_server()
    assert httpx.get(f"{process.base_url}/metrics").status_code == 200
    for outsider in ("203.0.113.9", "2001:db8::9", "127.0.0.1, 203.0.113.9"):
        refused = httpx.get(f"{process.base_url}/metrics", headers={"X-Forwarded-For": outsider})
        assert refused.status_code == 403, outsider
        assert refused.json()["error"]["code"] == "forbidden"
        assert "omnichat_http_requests_total" not in refused.text


def test_metrics_token_and_networks(start_server) -> None:  # type: ignore[no-untyped-def]
    """A bearer token opens /metrics from anywhere; networks may be given as CIDR."""
    token = "m3tr1cs-" + uuid.uuid4().hex
    process: ServerProcess = start_server(
        OMNICHAT_METRICS_ALLOW="10.0.0.0/8", OMNICHAT_METRICS_TOKEN=token
    )
    url, outside = f"{process.base_url}/metrics", {"X-Forwarded-For": "203.0.113.9"}
    assert (
        httpx.get(url, headers={**outside, "Authorization": f"Bearer {token}"}).status_code == 200
    )
    assert httpx.get(url, headers={**outside, "Authorization": "Bearer wrong"}).status_code == 403
    assert httpx.get(url, headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
    assert httpx.get(url).status_code == 403  # loopback is not in this list


def test_metrics_ignore_forwarded_for_from_untrusted_peers(start_server) -> None:  # type: ignore[no-untyped-def]
    """With no trusted proxy, X-Forwarded-For cannot make a client look allowed."""
    process: ServerProcess = start_server(
        OMNICHAT_SERVER_FORWARDED_ALLOW_IPS="", OMNICHAT_METRICS_ALLOW="10.0.0.0/8"
    )
    spoofed = httpx.get(f"{process.base_url}/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert spoofed.status_code == 403


def test_home_page_links_admin_and_demo(app: AppServer) -> None:
    """The placeholder page says what this is and links to /admin and /demo, revalidated."""
    response = app.http.get("/")
    assert response.status_code == 200
    assert "Omnichat" in response.text
    assert 'href="/admin"' in response.text and 'href="/demo"' in response.text
    assert response.headers["cache-control"] == "no-cache"
    css = app.http.get("/static/index.css")
    assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"


def test_logs_hold_no_secrets(server: ServerProcess) -> None:
    """The bootstrap password and the generated secret key never reach the log."""
    secret_key = (server.data_dir / "secret_key").read_text().strip()
    logs = server.logs()
    assert OWNER_PASSWORD not in logs
    assert secret_key not in logs


async def test_debug_logs_hold_no_frames_or_query_values(start_server) -> None:  # type: ignore[no-untyped-def]
    """At log level debug, socket frames (message texts, visitor tokens) and query parameters
    (an email typed at sign-in) stay out of the log."""
    process: ServerProcess = start_server(OMNICHAT_SERVER_LOG_LEVEL="debug")
    token = new_session(process)["token"]
    async with visitor_socket(process, token) as (ws, _):
        await send(ws, {"type": "message", "client_id": "d1", "text": "a private matter"})
        await next_frame(ws, "ack")
    email = f"who-{uuid.uuid4().hex[:8]}@example.com"
    process.http.post("/api/v1/auth/login", json={"email": email, "password": "x"})
    process.stop()
    logs = process.logs()
    assert "a private matter" not in logs
    assert token[:12] not in logs
    assert email not in logs
