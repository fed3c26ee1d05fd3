"""The app in this process, run by Starlette's TestClient: HTTP without sockets, and WebSockets
shaped like the `websockets` library's, so the client helpers take it as they take a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.utils import ClientDisconnected
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from omnichat.protocol.hub import Hub
from omnichat.settings import load_settings
from omnichat.storage import datadir
from omnichat.web.app import create_app
from tests.servers import Socket
from tests.timing import UNIT


@dataclass
class AppServer:
    """`create_app` as `run.py serve` builds it, run by Starlette's TestClient in a thread of its
    own: the lifespan (database, scheduler, hub) runs as under uvicorn, requests and sockets go
    straight to the ASGI app, and X-Forwarded-For is trusted from loopback as uvicorn trusts it."""

    data_dir: Path
    env: dict[str, str]
    base_url: str = "http://testserver"
    # What `prepare` printed (the bootstrap owner's generated password, when there is one).
    announced: list[str] = field(default_factory=list)
    _client: TestClient | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)

    def start(self) -> AppServer:
        settings = load_settings(None, self.env)
        settings = datadir.prepare(settings, announce=self.announced.append)
        app = ProxyHeadersMiddleware(
            create_app(settings, Hub()), trusted_hosts=settings.server.forwarded_allow_ips
        )
        # As a browser or httpx would talk to uvicorn: from loopback, redirects not followed,
        # and a crash answered with the app's 500 rather than raised into the test.
        client = TestClient(
            app,  # type: ignore[arg-type]
            base_url=self.base_url,
            raise_server_exceptions=False,
            follow_redirects=False,
            client=("127.0.0.1", 50000),
        )
        client.__enter__()
        assert client.portal is not None
        self._client = client
        self._loop = client.portal.call(asyncio.get_running_loop)
        return self

    def stop(self) -> None:
        """Run the lifespan's shutdown, as a SIGTERM to the server would."""
        if self._client is not None:
            client, self._client = self._client, None
            client.__exit__(None, None, None)

    @property
    def http(self) -> httpx.Client:
        assert self._client is not None, "the app is not running"
        return self._client  # type: ignore[return-value]

    @property
    def database_path(self) -> Path:
        return self.data_dir / "omnichat.sqlite"

    def async_http(self, **options: Any) -> httpx.AsyncClient:
        """An async client whose requests wait in worker threads, so several can be held open
        (long polls) while the test goes on."""
        transport = _ThreadedTransport(self.http)
        return httpx.AsyncClient(transport=transport, base_url=self.base_url, **options)

    def websocket(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[Socket]:
        return self._websocket(path, dict(headers or {}))

    @contextlib.asynccontextmanager
    async def _websocket(self, path: str, headers: dict[str, str]) -> AsyncIterator[Socket]:
        assert self._client is not None and self._loop is not None, "the app is not running"
        socket = AppSocket(self._client, self._loop, path, headers)
        await socket.open()
        try:
            yield socket
        finally:
            await socket.close()


class _ThreadedTransport(httpx.AsyncBaseTransport):
    """Sends an httpx.AsyncClient's requests through the TestClient, each in a thread."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        sent = asyncio.to_thread(
            self.client.request,
            request.method,
            str(request.url),
            headers=request.headers.raw,  # type: ignore[arg-type]
            content=content,
        )
        # The client's read timeout holds as it would over a socket.
        try:
            answer = await asyncio.wait_for(sent, request.extensions["timeout"].get("read"))
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the app did not answer in time", request=request) from exc
        return httpx.Response(
            answer.status_code, headers=answer.headers.raw, content=answer.content, request=request
        )


class AppSocket:
    """A WebSocket to the in-process app, behaving like a `websockets` client connection as
    uvicorn serves it: frames in order, the app's close code in ConnectionClosed and
    `close_code`, 1006 when the app ends without closing, an HTTP 403 when it refuses the
    handshake. The app runs in the TestClient's event loop; frames come back through a queue in
    the test's loop, so waiting for one can time out and be cancelled like any await."""

    def __init__(
        self,
        client: TestClient,
        app_loop: asyncio.AbstractEventLoop,
        path: str,
        headers: dict[str, str],
    ) -> None:
        self._client = client
        self._app_loop = app_loop
        self._path, _, self._query = path.partition("?")
        self._headers = headers
        self._incoming: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._disconnected = False
        self._closed: ConnectionClosedError | ConnectionClosedOK | None = None
        self._task: Future[None] | None = None
        self.close_code: int | None = None

    async def open(self) -> None:
        assert self._client.portal is not None
        self._loop = asyncio.get_running_loop()
        headers = [(b"host", b"testserver")] + [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self._headers.items()
        ]
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": self._path,
            "raw_path": self._path.encode(),
            "root_path": "",
            "query_string": self._query.encode(),
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "subprotocols": [],
            "state": self._client.app_state.copy(),
            "extensions": {},
        }
        self._task = self._client.portal.start_task_soon(self._run, scope)
        self._to_app_put({"type": "websocket.connect"})
        first = await self._next()
        if first is None or first["type"] != "websocket.accept":
            # uvicorn answers a refused handshake with 403 (500 if the app failed).
            status = 403 if first is not None else 500
            raise InvalidStatus(Response(status, "Forbidden", Headers()))

    async def send(self, message: str | bytes) -> None:
        if self._closed is not None:
            raise self._closed
        key = "text" if isinstance(message, str) else "bytes"
        self._to_app_put({"type": "websocket.receive", key: message})

    async def recv(self) -> str | bytes:
        if self._closed is not None:
            raise self._closed
        message = await self._next()
        if message is not None and message["type"] == "websocket.send":
            text = message.get("text")
            return text if text is not None else bytes(message["bytes"])
        if message is None:  # the app ended without a close frame: the connection just drops
            self.close_code = 1006
            self._closed = ConnectionClosedError(None, None)
        else:
            code, reason = message.get("code", 1000), message.get("reason") or ""
            self.close_code = code
            kind = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
            self._closed = kind(Close(code, reason), Close(code, reason), True)
            self._disconnect(code)
        raise self._closed

    async def close(self, code: int = 1000) -> None:
        """Say goodbye (the app hears a disconnect) and wait for the app to finish."""
        if self._closed is None:
            self._closed = ConnectionClosedOK(Close(code, ""), Close(code, ""), False)
            self.close_code = code
            self._disconnect(code)
        assert self._task is not None
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._task), 5 * UNIT)
        except TimeoutError:
            self._task.cancel()

    async def _next(self) -> dict[str, Any] | None:
        message = await self._incoming.get()
        if message is not None and message["type"] == "app.error":
            raise message["error"]
        return message

    def _disconnect(self, code: int) -> None:
        if not self._disconnected:
            self._disconnected = True
            self._to_app_put({"type": "websocket.disconnect", "code": code})

    def _to_app_put(self, message: dict[str, Any]) -> None:
        self._app_loop.call_soon_threadsafe(self._to_app.put_nowait, message)

    def _to_test(self, message: dict[str, Any] | None) -> None:
        self._loop.call_soon_threadsafe(self._incoming.put_nowait, message)

    async def _run(self, scope: dict[str, Any]) -> None:
        """The app's side, in the app's event loop."""

        async def receive() -> dict[str, Any]:
            return await self._to_app.get()

        async def send(message: dict[str, Any]) -> None:
            if self._disconnected:
                raise ClientDisconnected
            self._to_test(message)

        try:
            await self._client.app(scope, receive, send)  # type: ignore[arg-type]
        except ClientDisconnected:
            pass
        except Exception as exc:
            # A server would log it and drop the connection; the test should see it.
            self._to_test({"type": "app.error", "error": exc})
        self._to_test(None)
