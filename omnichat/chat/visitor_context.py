"""Visitor context: what the widget's page knows (URL, title, referrer, language, time zone),
the browser and OS read from the User-Agent, and the pages visited during the chat.

The context lives on the visitor (`visitors.context`, JSON) and shows in every Conversation as
`visitor.context`; pages are kept per visitor, the 50 newest, since a web visitor has one
conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from omnichat import times
from omnichat.chat import conversations
from omnichat.errors import Invalid
from omnichat.storage.db import Database, Row, Tx

MAX_URL = 2048
# Bounds for the other fields: a page title, a BCP 47 tag, an IANA zone name.
LIMITS = {"url": MAX_URL, "referrer": MAX_URL, "title": 300, "language": 35, "timezone": 64}
PAGES_KEPT = 50


@dataclass(frozen=True)
class Page:
    url: str
    title: str | None
    at: str

    @classmethod
    def from_row(cls, row: Row) -> Page:
        return cls(url=row["url"], title=row["title"], at=row["at"])

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "title": self.title, "at": self.at}


def clean_field(field: str, value: object, name: str | None = None) -> str | None:
    """One context field: a string within its bound, trimmed, "" as None; URLs http(s) only,
    since staff screens make links of them. `Invalid` names `name` (default `context.FIELD`)."""
    label = name or f"context.{field}"
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(label, "must be a string")
    text = value.strip()
    if len(text) > LIMITS[field]:
        raise Invalid(label, f"must be at most {LIMITS[field]} characters")
    if not text:
        return None
    if field in ("url", "referrer") and urlsplit(text).scheme.lower() not in ("http", "https"):
        raise Invalid(label, "must be an http(s) URL")
    return text


def parse_context(value: object) -> dict[str, str | None]:
    """The session's `context` object, cleaned (unknown keys ignored); `Invalid` names the
    field."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("context", "must be an object")
    return {field: clean_field(field, value.get(field)) for field in LIMITS if field in value}


# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"(?:OPR|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
SYSTEMS = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux|X11")),
)


def browser_and_os(user_agent: str | None) -> tuple[str | None, str | None]:
    """("Chrome 120", "Windows") from a User-Agent header; None for what it does not say.

    A small parser of our own for the main browsers and systems: enough for staff to picture
    the visitor's screen, with no dependency to keep up to date.
    """
    agent = (user_agent or "")[:512]
    browser = next(
        (f"{name} {found.group(1)}" for name, rule in BROWSERS if (found := rule.search(agent))),
        None,
    )
    system = next((name for name, rule in SYSTEMS if rule.search(agent)), None)
    return browser, system


async def record(
    db: Database,
    visitor_id: int,
    fields: dict[str, str | None],
    *,
    user_agent: str | None = None,
) -> None:
    """Merge `fields` into the visitor's context (with the browser and OS of `user_agent` when
    given), add its `url` to the visitor's pages unless it is the newest one already, keep the
    50 newest, and tell staff when the visitor has a conversation that is not closed."""
    if user_agent is not None:
        browser, system = browser_and_os(user_agent)
        fields = {**fields, "browser": browser, "os": system}

    async def op(tx: Tx) -> None:
        now = times.now_iso()
        row = await tx.fetch_one("SELECT context FROM visitors WHERE id = :id", {"id": visitor_id})
        stored = orjson.loads(row["context"]) if row is not None and row["context"] else {}
        merged = {**stored, **fields}
        changed = merged != stored
        if changed:
            await tx.execute(
                "UPDATE visitors SET context = :context, last_seen_at = :now WHERE id = :id",
                {"context": orjson.dumps(merged).decode(), "now": now, "id": visitor_id},
            )
        url = fields.get("url")
        if url and await _newest_url(tx, visitor_id) != url:
            await _add_page(tx, visitor_id, url, fields.get("title"), now)
            changed = True
        if not changed:
            return
        found = await conversations.find(tx, visitor_id, "web")
        if found is not None and found[1] != "closed":
            conversation = await conversations.load(tx, found[0])
            await conversations.announce(tx, conversation, "conversation.updated")

    await db.write(op)


async def _newest_url(tx: Tx, visitor_id: int) -> str | None:
    row = await tx.fetch_one(
        "SELECT url FROM visitor_pages WHERE visitor_id = :v ORDER BY id DESC LIMIT 1",
        {"v": visitor_id},
    )
    return None if row is None else str(row["url"])


async def _add_page(tx: Tx, visitor_id: int, url: str, title: str | None, now: str) -> None:
    await tx.execute(
        "INSERT INTO visitor_pages (visitor_id, url, title, at) VALUES (:v, :url, :title, :now)",
        {"v": visitor_id, "url": url, "title": title, "now": now},
    )
    # Keep the newest ones: the row PAGES_KEPT places back and everything older goes.
    await tx.execute(
        "DELETE FROM visitor_pages WHERE visitor_id = :v AND id <= (SELECT id FROM visitor_pages"
        " WHERE visitor_id = :v ORDER BY id DESC LIMIT 1 OFFSET :kept)",
        {"v": visitor_id, "kept": PAGES_KEPT},
    )


async def pages(db: Database, visitor_id: int) -> list[Page]:
    """The visitor's pages, newest first (at most 50 are kept)."""
    rows = await db.fetch_all(
        "SELECT url, title, at FROM visitor_pages WHERE visitor_id = :v ORDER BY id DESC"
        " LIMIT :limit",
        {"v": visitor_id, "limit": PAGES_KEPT},
    )
    return [Page.from_row(row) for row in rows]
