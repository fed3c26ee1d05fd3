"""One small exception family shared by the domain and both transports.

The domain raises; the HTTP handler and the WebSocket endpoints map an error to the
contract's envelope (`{"error": {"code", "message"}}`) or close code.
"""

from __future__ import annotations


class OmnichatError(Exception):
    """A failure the caller can understand: it carries its status, close code and error code."""

    status = 400
    close_code = 1008
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(OmnichatError):
    status, code = 400, "bad_request"


class NotAuthenticated(OmnichatError):
    status, close_code, code = 401, 4401, "not_authenticated"


class Forbidden(OmnichatError):
    status, close_code, code = 403, 4403, "forbidden"


class NotFound(OmnichatError):
    status, code = 404, "not_found"


class Conflict(OmnichatError):
    status, code = 409, "conflict"


class TooLarge(OmnichatError):
    status, close_code, code = 413, 1009, "too_large"


class Invalid(OmnichatError):
    """A field failed validation; the message names the field."""

    status, code = 422, "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class RateLimited(OmnichatError):
    status, close_code, code = 429, 4429, "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


class StartupError(Exception):
    """A problem that stops the server from starting; its message is one clear line."""
