"""One call to Twilio's Messages API, and what its answer means for the outbox.

`accepted`: Twilio took the text. `retry`: it certainly did not (connection refused, 5xx, 429,
rejected credentials), so try again later. `unknown`: the request may have reached Twilio but
the answer was lost (timeout, dropped connection): resend only after the callback grace period.
`permanent`: Twilio refused this text (an invalid or unsubscribed number...): never retried.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp
import orjson

from omnichat.settings import TwilioSettings

Kind = Literal["accepted", "retry", "unknown", "permanent"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    sid: str | None = None
    status: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after: float | None = None


def messages_url(settings: TwilioSettings) -> str:
    return (
        f"{settings.api_base_url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}"
        "/Messages.json"
    )


def _error(body: bytes) -> tuple[str | None, str | None]:
    """Twilio's error code and message from an error answer, when it has them."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("code")
    message = data.get("message")
    return (
        None if code is None else str(code),
        None if not isinstance(message, str) else message[:500],
    )


def _retry_after(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


async def send(
    session: aiohttp.ClientSession,
    settings: TwilioSettings,
    to: str,
    sender: str,
    body: str,
    status_callback: str,
    media: Sequence[str] = (),
) -> Outcome:
    """POST one message (with a `MediaUrl` per file link); never raises for provider or network
    trouble."""
    form = [("To", to), ("From", sender), ("Body", body), ("StatusCallback", status_callback)]
    form += [("MediaUrl", url) for url in media]
    credentials = f"{settings.account_sid}:{settings.auth_token}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
    try:
        async with session.post(
            messages_url(settings),
            data=form,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=settings.request_timeout_seconds),
        ) as response:
            answer = await response.read()
            status, retry_after = response.status, response.headers.get("Retry-After")
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        # The connection was never made, so nothing reached Twilio.
        return Outcome("retry", error_code="unreachable", error_message="Twilio is unreachable.")
    except TimeoutError:
        return Outcome("unknown", error_code="timeout", error_message="Twilio did not answer.")
    except aiohttp.ClientError:
        return Outcome(
            "unknown", error_code="connection_lost", error_message="The call to Twilio broke off."
        )
    if 200 <= status < 300:
        try:
            data = orjson.loads(answer)
        except orjson.JSONDecodeError:
            data = {}
        sid = data.get("sid") if isinstance(data, dict) else None
        state = data.get("status") if isinstance(data, dict) else None
        return Outcome(
            "accepted",
            sid=sid if isinstance(sid, str) else None,
            status=state if isinstance(state, str) else "queued",
        )
    code, message = _error(answer)
    if status == 429 or status >= 500:
        return Outcome(
            "retry",
            error_code=code or f"http_{status}",
            error_message=message or f"Twilio answered {status}.",
            retry_after=_retry_after(retry_after) if status == 429 else None,
        )
    if status == 401:
        # Every text would fail the same way: keep them queued while someone fixes the settings.
        return Outcome(
            "retry",
            error_code=code or "http_401",
            error_message="Twilio refused our credentials (twilio.account_sid / auth_token).",
        )
    return Outcome(
        "permanent",
        error_code=code or f"http_{status}",
        error_message=message or f"Twilio refused the text ({status}).",
    )
