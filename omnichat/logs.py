"""Structured logs on stderr, with the request id when there is one: a JSON object per line for
machines (production, or piped), or a coloured line per record for a person at a terminal.

Log calls pass fields through `extra={"fields": {...}}`. Callers never pass tokens, passwords or
message bodies, and pass phone numbers through `mask_phone`.
"""

from __future__ import annotations

import contextvars
import logging
import os
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


def _entry(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, object]:
    entry: dict[str, object] = {
        "ts": formatter.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
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
        entry["exc"] = formatter.formatException(record.exc_info)
    return entry


class JsonFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(_entry(self, record), default=str).decode()


# ANSI colours by level; NO_COLOR (no-color.org) turns them off.
COLOURS = {"debug": "2", "info": "36", "warning": "33", "error": "31", "critical": "1;31"}


class ConsoleFormatter(logging.Formatter):
    """`12:03:04 info  omnichat.http request method=GET path=/ status=200`: the same entry
    as the JSON line, for reading in a terminal."""

    converter = staticmethod(time.gmtime)

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(self, record)
        ts = str(entry.pop("ts"))[11:19]
        level = str(entry.pop("level"))
        logger, msg, exc = entry.pop("logger"), entry.pop("msg"), entry.pop("exc", None)
        fields = " ".join(f"{key}={_field(value)}" for key, value in entry.items())
        if self.colour:
            level = f"\x1b[{COLOURS.get(level, '0')}m{level:<7}\x1b[0m"
            fields = f"\x1b[2m{fields}\x1b[0m" if fields else ""
        else:
            level = f"{level:<7}"
        line = f"{ts} {level} {logger} {msg}" + (f" {fields}" if fields else "")
        return line + (f"\n{exc}" if exc else "")


def _field(value: object) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return f'"{text}"' if not text or " " in text else text


def console_wanted(log_format: str, production: bool, stream: object = sys.stderr) -> bool:
    """Whether to write console lines: asked for, or `auto` in development at a terminal."""
    if log_format != "auto":
        return log_format == "console"
    isatty = getattr(stream, "isatty", None)
    return not production and callable(isatty) and bool(isatty())


def configure(level: str, console: bool = False) -> None:
    """Send every logger (ours, uvicorn's, apscheduler's) through one formatter: JSON, or
    console lines for a person."""
    handler = logging.StreamHandler(sys.stderr)
    colour = console and "NO_COLOR" not in os.environ
    handler.setFormatter(ConsoleFormatter(colour) if console else JsonFormatter())
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
