"""Connection limits against the real server with raw sockets: deadlines, caps, head size."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.frames import Frame, Opcode

from omnichat.metrics import Metrics
from omnichat.web.connections import ConnectionCounts, TrustedProxies, normal_ip
from tests.servers import ServerProcess, server_env
from tests.timing import UNIT
from tests.visitors import new_session, visitor_socket

Start = Callable[..., ServerProcess]
# Short deadlines, so the tests wait about a second for each.
QUICK = {
    "OMNICHAT_SERVER_HEADER_TIMEOUT_SECONDS": "1",
    "OMNICHAT_SERVER_BODY_TIMEOUT_SECONDS": "1",
    "OMNICHAT_SERVER_KEEPALIVE_SECONDS": "1",
}
# Loopback is a trusted proxy by default (and so exempt from the per-address cap); these tests
# play clients that connect directly.
NO_PROXY = {"OMNICHAT_SERVER_FORWARDED_ALLOW_IPS": "192.0.2.1"}


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10 * UNIT)


def until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started, received = time.monotonic(), b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - started


@contextlib.contextmanager
def held_open(server: ServerProcess, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that send nothing, closed on leaving."""
    socks = [connect(server) for _ in range(count)]
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


def read_response(sock: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body) from a kept-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def is_refused(sock: socket.socket, status: bytes) -> bool:
    """The server answered `status` at once and closed, or reset the connection."""
    sock.settimeout(5 * UNIT)
    received, _ = until_closed(sock)
    return received == b"" or received.startswith(b"HTTP/1.1 " + status)


def dropped(server: ServerProcess, reason: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics").text
    line = f'omnichat_http_connections_dropped_total{{reason="{reason}"}}'
    return float(next(row for row in text.splitlines() if row.startswith(line)).split()[-1])


# --- deadlines ---


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with one-second deadlines for the deadline tests."""
    data_dir = tmp_path_factory.mktemp("quick") / "data"
    process = ServerProcess(data_dir, server_env(data_dir, **QUICK)).start()
    yield process
    process.stop()


def test_partial_head_is_answered_408_and_closed(quick: ServerProcess) -> None:
    """Half a request head is closed with 408 after header_timeout_seconds, not held open."""
    server, before = quick, dropped(quick, "head_timeout")
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        received, waited = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"timeout"' in received
    assert 0.8 < waited < 1 + 3 * UNIT
    assert dropped(server, "head_timeout") == before + 1


def test_silent_connection_is_closed(quick: ServerProcess) -> None:
    """A connection that never sends a byte is closed after header_timeout_seconds."""
    with connect(quick) as sock:
        received, waited = until_closed(sock)
    assert received == b"" and 0.8 < waited < 1 + 3 * UNIT
    assert dropped(quick, "idle") >= 1


def test_partial_body_is_closed(quick: ServerProcess) -> None:
    """A body that stops short of its Content-Length is closed after body_timeout_seconds."""
    server, before = quick, dropped(quick, "body_timeout")
    with connect(server) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"email":'
        )
        _, waited = until_closed(sock)
    assert 0.8 < waited < 1 + 3 * UNIT
    assert dropped(server, "body_timeout") == before + 1


def test_idle_keep_alive_connection_is_closed(quick: ServerProcess) -> None:
    """After an answer, a keep-alive connection left idle is closed after keepalive_seconds;
    one that starts a new head in time is answered again."""
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(quick) as sock:
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.5)
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        received, waited = until_closed(sock)
    assert received == b"" and 0.8 < waited < 1 + 3 * UNIT


def test_partial_head_after_keep_alive_is_closed(quick: ServerProcess) -> None:
    """A second head that starts after an answer but never ends is closed too."""
    with connect(quick) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /health/live HTTP/1.1\r\n")
        received, waited = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 ") and waited < 1 + 3 * UNIT


# --- caps ---


def test_per_ip_cap_refuses_more_connections_until_some_close(start_server: Start) -> None:
    """Past connections_per_ip, a client address's new connections are answered 429 and closed
    at once; other work goes on, and once it closes some, it is served again."""
    server = start_server(OMNICHAT_LIMITS_CONNECTIONS_PER_IP="5", **NO_PROXY)
    with held_open(server, 5):
        for _ in range(3):
            with connect(server) as extra:
                assert is_refused(extra, b"429")
        # Reset before the answer could be read is refused all the same.
        with contextlib.suppress(httpx.TransportError):
            assert httpx.get(f"{server.base_url}/health/live").status_code == 429
    response = httpx.get(f"{server.base_url}/health/live")
    assert response.status_code == 200
    assert dropped(server, "per_ip") >= 3


def test_websockets_leave_the_per_ip_count(start_server: Start) -> None:
    """An upgraded connection is capped by sockets_per_ip, not connections_per_ip: with the
    HTTP cap's worth of sockets open, plain requests from the same address still pass."""
    import asyncio

    server = start_server(OMNICHAT_LIMITS_CONNECTIONS_PER_IP="3", **NO_PROXY)
    token = new_session(server)["token"]

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(visitor_socket(server, token))
            response = await asyncio.to_thread(httpx.get, f"{server.base_url}/health/live")
            assert response.status_code == 200

    asyncio.run(scenario())


def test_trusted_proxies_are_exempt_from_the_per_ip_cap(start_server: Start) -> None:
    """Every client behind a trusted proxy arrives from its address: the proxy is not capped."""
    server = start_server(OMNICHAT_LIMITS_CONNECTIONS_PER_IP="2")  # loopback is trusted
    with held_open(server, 4):
        assert httpx.get(f"{server.base_url}/health/live").status_code == 200


def test_max_connections_refuses_with_503_until_some_close(start_server: Start) -> None:
    """Past max_connections every new connection is answered 503 and closed; service resumes
    when connections close."""
    server = start_server(OMNICHAT_SERVER_MAX_CONNECTIONS="16")
    with held_open(server, 16), connect(server) as extra:
        assert is_refused(extra, b"503")
    assert httpx.get(f"{server.base_url}/health/live").status_code == 200
    assert dropped(server, "max_connections") >= 1


# --- head size ---


def test_head_over_16_kib_in_one_write_is_refused(server: ServerProcess) -> None:
    """A 100 KB request head sent whole, in one write, is answered 431 and never served."""
    head = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(head)
        received, _ = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 431 ")
    assert b'"code":"head_too_large"' in received
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 90) for i in range(200))
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert until_closed(sock)[0].startswith(b"HTTP/1.1 431 ")
    assert httpx.get(f"{server.base_url}/health/live", headers={"X-Fine": "a" * 8000}).is_success


# --- the counts, without a server ---


def test_counts_cap_each_address_and_the_total() -> None:
    """Each address gets its share, the total is capped, an upgrade frees the address's place,
    and releasing twice is harmless."""
    counts = ConnectionCounts(4, 2, TrustedProxies("10.0.0.0/8"), Metrics())
    assert counts.admit("a1", "192.0.2.7") is None
    assert counts.admit("a2", "::ffff:192.0.2.7") is None
    assert counts.admit("a3", "192.0.2.7") == "per_ip"
    counts.upgraded("a1")
    assert counts.admit("a3", "192.0.2.7") is None
    assert counts.admit("p1", "10.1.2.3") is None
    assert counts.admit("p2", "10.1.2.3") == "max_connections"
    counts.release("a2")
    counts.release("a2")
    assert counts.admit("p2", "10.1.2.3") is None
    assert counts.by_ip == {"192.0.2.7": 1}


def test_trusted_proxies_read_like_uvicorn() -> None:
    """Addresses, networks and `*` are understood; names are ignored."""
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8,fd00::/8, /run/sock")
    assert "127.0.0.1" in trusted and "10.9.8.7" in trusted and "fd00::1" in trusted
    assert "192.0.2.1" not in trusted and "unknown" not in trusted
    assert "203.0.113.5" in TrustedProxies("*")
    assert normal_ip("::ffff:10.0.0.1") == "10.0.0.1"


def test_malformed_request_is_answered_400_with_the_envelope(server: ServerProcess) -> None:
    """Bytes that are not HTTP get a 400 in the contract's envelope, and the connection closes."""
    with connect(server) as sock:
        sock.sendall(b"HELLO THERE\r\n\r\n")
        received, _ = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 400 ") and b'"code":"malformed"' in received


# --- a client that does not wait for the handshake ---


def _upgrade(server: ServerProcess) -> bytes:
    return (
        f"GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _masked(frame: dict[str, object]) -> bytes:
    return Frame(Opcode.TEXT, orjson.dumps(frame)).serialize(mask=True, extensions=[])


def _server_frame(sock: socket.socket, buffered: bytes) -> tuple[dict[str, Any], bytes]:
    """The next text frame the server sent (unmasked, unfragmented) and what follows it."""
    while True:
        if len(buffered) >= 2:
            length, start = buffered[1] & 0x7F, 2
            if length == 126 and len(buffered) >= 4:
                length, start = int.from_bytes(buffered[2:4], "big"), 4
            if length != 126 and len(buffered) >= start + length:
                return orjson.loads(buffered[start : start + length]), buffered[start + length :]
        buffered += sock.recv(65536)


@pytest.mark.parametrize("split", [None, 5], ids=["whole", "split"])
def test_frames_sent_with_the_upgrade_request_are_read(
    server: ServerProcess, split: int | None
) -> None:
    """A client that sends its hello in the same write as the upgrade request (whole, or cut
    mid-frame with the rest after) is greeted, and its next message is acked."""
    token = new_session(server)["token"]
    hello = _masked({"type": "hello", "token": token, "last_seq": 0})
    first, rest = (hello, b"") if split is None else (hello[:split], hello[split:])
    with connect(server) as sock:
        sock.sendall(_upgrade(server) + first)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, buffered = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(rest)
        welcome, buffered = _server_frame(sock, buffered)
        assert welcome["type"] == "welcome"
        sock.sendall(_masked({"type": "message", "client_id": "c1", "text": "hello there"}))
        frame: dict[str, Any] = {}
        while frame.get("type") != "ack":  # a conversation frame comes first
            frame, buffered = _server_frame(sock, buffered)
    assert frame["message"]["text"] == "hello there"
