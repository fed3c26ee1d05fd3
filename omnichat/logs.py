"""Structured logs: one JSON object per line on stderr, with the request id when there is one.

Log calls pass fields through `extra={"fields": {...}}`. Callers never pass tokens, passwords or
message bodies, and pass phone numbers through `mask_phone`.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def mask_phone(number: str | None) -> str:
    """A phone number fit for a log line: the country prefix and the last two digits only."""
    if not number:
        return ""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


class JsonFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        current = request_id.get()
        if current:
            entry["request_id"] = current
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str) -> None:
    """Send every logger (ours, uvicorn's, apscheduler's) through the JSON formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log would duplicate our request lines (and print query strings).
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    # At debug these log what passes through them: every socket frame (message texts, tokens in
    # hellos) and every query with its parameters (emails typed at sign-in, search words).
    for name in ("uvicorn.error", "aiosqlite"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
