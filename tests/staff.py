"""Test clients for the staff side: signing in, and accounts made through the API or the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from tests.servers import OWNER_EMAIL, OWNER_PASSWORD, ROOT, Server, Socket
from tests.timing import UNIT

PASSWORD = "a-perfectly-fine-password"


@dataclass
class Account:
    """A signed-in staff member: their user record, password and current tokens."""

    user: dict[str, Any]
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(prefix: str = "staff") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def unique_ip() -> str:
    """A client address of its own (uvicorn trusts X-Forwarded-For from loopback), so throttling
    in one test never spills into another."""
    value = uuid.uuid4().int
    return f"10.{value % 250}.{value // 250 % 250}.{value // 62500 % 250 + 1}"


def login_response(
    server: Server, email: str, password: str, ip: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return server.http.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )


def login(server: Server, email: str, password: str, ip: str | None = None) -> Account:
    response = login_response(server, email, password, ip)
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(body["user"], password, body["access_token"], body["refresh_token"])


def sign_in_owner(server: Server) -> Account:
    """The default tenant's owner in a session of its own, signed in from an address of its own
    (so no login throttling spills between tests)."""
    return login(server, OWNER_EMAIL, OWNER_PASSWORD, ip=unique_ip())


def create_account(server: Server, admin: Account, role: str, email: str | None = None) -> Account:
    """A new account made by `admin` through the API, signed in and past its password change."""
    created = server.http.post(
        "/api/v1/users",
        json={"email": email or unique_email(role), "role": role},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    account = login(server, created.json()["user"]["email"], created.json()["password"])
    changed = server.http.post(
        "/api/v1/auth/password",
        json={"current_password": account.password, "new_password": PASSWORD},
        headers=account.headers,
    )
    assert changed.status_code == 200, changed.text
    account.password = PASSWORD
    account.user = changed.json()["user"]
    return account


def create_user_cli(
    server: Server, email: str, role: str, tenant: str, password: str = PASSWORD
) -> None:
    """`run.py create-user` against the server's data dir (a second tenant, a second owner)."""
    result = subprocess.run(
        [
            sys.executable,
            "run.py",
            "create-user",
            email,
            "--role",
            role,
            "--tenant",
            tenant,
            "--password-stdin",
        ],
        cwd=ROOT,
        env={**os.environ, **server.env},
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def other_tenant_account(server: Server, role: str = "admin") -> Account:
    """A signed-in account in a tenant of its own."""
    email = unique_email(f"other-{role}")
    create_user_cli(server, email, role, tenant=f"t{uuid.uuid4().hex[:8]}")
    return login(server, email, PASSWORD)


async def closed_with(ws: Socket) -> int | None:
    """Read until the server closes the socket; its close code."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(5 * UNIT):
            while True:
                await ws.recv()
    return ws.close_code
