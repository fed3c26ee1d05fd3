"""MMS: the files of SMS and WhatsApp texts, fetched in from Twilio and linked out to it.

Inbound, a contact's text is stored at once with its body; each media item becomes a
`media_fetches` row in the same transaction, so the webhook answers without waiting for a
download. The `Fetcher` downloads each one from Twilio with the account's credentials, through
the egress guard, sniffs and limits it like an upload, and stores it as an attachment of that
message, appending `message.updated` so the admin page shows it. Provider trouble retries with
backoff; a file that cannot be had (gone, refused type, too large, retries spent) is given up on
and the conversation gets a private note saying so.

Outbound, a reply's files go to Twilio as `MediaUrl` parameters: links on our public URL
(`twilio.public_base_url`) signed when the text is sent, valid `twilio.media_url_ttl_seconds`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson

from omnichat import retry, times
from omnichat.chat import attachments, events, filetypes, messages
from omnichat.chat.attachments import Uploader
from omnichat.chat.conversations import load
from omnichat.chat.messages import Message, Stored
from omnichat.egress import Egress, EgressRefused, refusal
from omnichat.errors import Invalid
from omnichat.settings import AttachmentsSettings, TwilioSettings
from omnichat.signing import Signer
from omnichat.storage.db import Database, Tx

log = logging.getLogger("omnichat.twilio")

# Twilio's limits on what one outgoing message may carry.
MAX_OUTBOUND_BYTES = 5 * 1024 * 1024
MAX_OUTBOUND_FILES = {"sms": 10, "whatsapp": 1}
MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 600.0
IDLE_SECONDS = 1.0
BATCH = 4
MAX_REDIRECTS = 3
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


# Outbound.


async def outgoing(tx: Tx, message_id: int, channel: str) -> list[int]:
    """The ids of the files a reply sends, within Twilio's limits, else `Invalid` (422)."""
    rows = await tx.fetch_all(
        "SELECT id, size FROM attachments WHERE message_id = :m ORDER BY id", {"m": message_id}
    )
    if len(rows) > MAX_OUTBOUND_FILES[channel]:
        raise Invalid(
            "attachments", f"{channel} carries at most {MAX_OUTBOUND_FILES[channel]} file(s)"
        )
    if sum(row["size"] for row in rows) > MAX_OUTBOUND_BYTES:
        raise Invalid("attachments", "files sent by text may add up to at most 5 MB (Twilio)")
    return [int(row["id"]) for row in rows]


def public_links(settings: TwilioSettings, signer: Signer, media: str | None) -> list[str]:
    """Absolute signed links for an outbox row's `media` (a JSON list of attachment ids)."""
    if not media:
        return []
    base = settings.public_base_url.rstrip("/")
    ids = orjson.loads(media)
    return [base + attachments.link(signer, int(i), settings.media_url_ttl_seconds) for i in ids]


# Inbound.


async def enqueue(tx: Tx, stored: Stored, visitor_id: int, urls: tuple[str, ...]) -> None:
    """Queue the fetch of a new message's media, in the message's transaction."""
    now = times.now_iso()
    for n, url in enumerate(urls):
        await tx.execute(
            "INSERT INTO media_fetches (tenant_id, message_id, visitor_id, n, url, next_attempt_at,"
            " created_at, updated_at) VALUES (:t, :m, :v, :n, :url, :now, :now, :now)"
            " ON CONFLICT (message_id, n) DO NOTHING",
            {
                "t": stored.conversation.tenant_id,
                "m": stored.message.id,
                "v": visitor_id,
                "n": n,
                "url": url,
                "now": now,
            },
        )


@dataclass(frozen=True)
class Fetch:
    id: int
    tenant_id: int
    message_id: int
    visitor_id: int
    n: int
    url: str
    attempts: int


class GiveUp(Exception):
    """This file cannot be had; the message says why (shown to staff in a note)."""


class TryLater(Exception):
    """The provider failed this time; try again after a while."""


async def due(db: Database, limit: int) -> list[Fetch]:
    rows = await db.fetch_all(
        "SELECT id, tenant_id, message_id, visitor_id, n, url, attempts FROM media_fetches"
        " WHERE status = 'pending' AND next_attempt_at <= :now ORDER BY id LIMIT :limit",
        {"now": times.now_iso(), "limit": limit},
    )
    return [Fetch(*row) for row in rows]


async def claim(db: Database, row: Fetch, lease_seconds: float) -> bool:
    """Take a due fetch for this process; False when another took it (or it moved) first.

    There is no `fetching` state: the claim moves the row's next attempt a lease ahead, so other
    processes leave it alone while it downloads, and if this process dies the row is simply due
    again once the lease is over. SQLite's one process needs no lease (0: the row stays due, as
    before, and a restart fetches it at once). One conditional UPDATE by id on the state the
    pass read, so of two processes that read the row one downloads it.
    """
    now = times.now()

    async def op(tx: Tx) -> bool:
        changed = await tx.execute(
            "UPDATE media_fetches SET next_attempt_at = :until, updated_at = :now"
            " WHERE id = :id AND status = 'pending' AND attempts = :attempts"
            " AND next_attempt_at <= :now",
            {
                "until": times.iso(now + timedelta(seconds=lease_seconds)),
                "now": times.iso(now),
                "id": row.id,
                "attempts": row.attempts,
            },
        )
        return changed == 1

    return await db.write(op)


async def _announce(tx: Tx, message_id: int) -> None:
    row = await tx.fetch_one(
        "SELECT" + messages.COLUMNS + messages.FROM + "WHERE m.id = :id", {"id": message_id}
    )
    assert row is not None, f"message {message_id} vanished"
    message = Message.from_row(row, tx.signer)
    conversation = await load(tx, message.conversation_id)
    await events.append(
        tx,
        conversation.tenant_id,
        "message.updated",
        {"message": message.to_json(), "conversation": conversation.to_json()},
    )


class Fetcher:
    """The worker that downloads queued media while the server runs (when Twilio is set up)."""

    def __init__(
        self, settings: TwilioSettings, limits: AttachmentsSettings, db: Database, guard: Egress
    ) -> None:
        self.settings = settings
        self.limits = limits
        self.db = db
        self.guard = guard
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # A download is at most one request per redirect, each under the timeout.
        self.timeout = max(60.0, settings.request_timeout_seconds)
        longest = (MAX_REDIRECTS + 1) * self.timeout
        self.lease = 0.0 if db.dialect == "sqlite" else retry.lease_seconds(longest)

    async def start(self) -> None:
        if not (self.settings.account_sid and self.settings.auth_token):
            return  # SMS and WhatsApp are off
        self._session = self.guard.session()
        self._task = asyncio.create_task(self._run(), name="omnichat-mms-fetcher")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            rows: list[Fetch] = []
            try:
                rows = await due(self.db, BATCH)
                await asyncio.gather(*(self.fetch_one(row) for row in rows))
            except Exception:
                log.exception("media fetch pass failed")
            if len(rows) < BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), IDLE_SECONDS)

    async def fetch_one(self, row: Fetch) -> None:
        if not await claim(self.db, row, self.lease):
            return
        fields = {"fetch_id": row.id, "message_id": row.message_id, "attempt": row.attempts + 1}
        try:
            kind, spool = await self._download(row.url)
        except GiveUp as exc:
            await self._give_up(row, str(exc))
            log.warning("MMS media given up", extra={"fields": {**fields, "reason": str(exc)}})
            return
        except TryLater as exc:
            if row.attempts + 1 >= MAX_ATTEMPTS:
                await self._give_up(row, f"{exc} (gave up after {MAX_ATTEMPTS} attempts)")
            else:
                await self._retry(row, str(exc))
            log.warning("MMS media not fetched", extra={"fields": {**fields, "reason": str(exc)}})
            return
        try:
            await self._store(row, kind, spool)
        finally:
            spool.close()
        log.info("MMS media stored", extra={"fields": fields})

    def _auth(self, url: str) -> dict[str, str]:
        """Basic auth, only for Twilio's API host: a redirect elsewhere gets no credentials."""
        host = urlsplit(url).hostname or ""
        api_host = urlsplit(self.settings.api_base_url).hostname
        if host != api_host and not host.endswith(".twilio.com"):
            return {}
        pair = f"{self.settings.account_sid}:{self.settings.auth_token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    async def _download(self, url: str) -> tuple[str, tempfile.SpooledTemporaryFile[bytes]]:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
        try:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    self.guard.check_url(url)
                except EgressRefused as exc:
                    raise GiveUp(f"the media link is not allowed: {exc}") from None
                try:
                    async with self._session.get(
                        url, headers=self._auth(url), allow_redirects=False, timeout=timeout
                    ) as response:
                        if response.status in (301, 302, 303, 307, 308):
                            url = urljoin(url, response.headers.get("Location", ""))
                            continue
                        self._judge(response.status)
                        head = b""
                        size = 0
                        async for chunk in response.content.iter_chunked(64 * 1024):
                            size += len(chunk)
                            if size > self.limits.max_bytes:
                                raise GiveUp(f"the file is over {self.limits.max_bytes} bytes")
                            if len(head) < filetypes.HEAD_BYTES:
                                head += chunk[: filetypes.HEAD_BYTES - len(head)]
                            spool.write(chunk)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    refused = refusal(exc)
                    if refused is not None:
                        raise GiveUp(f"the media link is not allowed: {refused}") from None
                    raise TryLater("Twilio could not be reached") from None
                if size == 0:
                    raise GiveUp("the file is empty")
                kind = filetypes.sniff(head)
                if not filetypes.allowed(kind, self.limits.allowed_types):
                    raise GiveUp(f"files of this type ({kind or 'unknown'}) are not accepted")
                assert kind is not None
                return kind, spool
            raise GiveUp("too many redirects")
        except BaseException:
            spool.close()
            raise

    @staticmethod
    def _judge(status: int) -> None:
        if 200 <= status < 300:
            return
        if status in (401, 429) or status >= 500:
            raise TryLater(f"Twilio answered {status}")
        raise GiveUp(f"Twilio answered {status}")

    async def _store(
        self, row: Fetch, kind: str, spool: tempfile.SpooledTemporaryFile[bytes]
    ) -> None:
        name = f"media-{row.n + 1}{EXTENSIONS.get(kind, '')}"
        uploader = Uploader(row.tenant_id, visitor_id=row.visitor_id)

        async def op(tx: Tx) -> None:
            changed = await tx.execute(
                "UPDATE media_fetches SET status = 'done', attempts = attempts + 1,"
                " updated_at = :now WHERE id = :id AND status = 'pending'",
                {"id": row.id, "now": times.now_iso()},
            )
            if not changed:
                return
            await attachments.insert(tx, uploader, name, kind, spool, row.message_id)
            await _announce(tx, row.message_id)

        await self.db.write(op)

    async def _retry(self, row: Fetch, reason: str) -> None:
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**row.attempts)
        delay = delay / 2 + random.uniform(0, delay / 2)
        when = times.iso(times.now() + timedelta(seconds=delay))

        async def op(tx: Tx) -> None:
            await tx.execute(
                "UPDATE media_fetches SET attempts = attempts + 1, next_attempt_at = :when,"
                " error = :error, updated_at = :now"
                " WHERE id = :id AND status = 'pending' AND attempts = :attempts",
                {
                    "id": row.id,
                    "when": when,
                    "error": reason,
                    "now": times.now_iso(),
                    "attempts": row.attempts,
                },
            )

        await self.db.write(op)

    async def _give_up(self, row: Fetch, reason: str) -> None:
        async def op(tx: Tx) -> None:
            changed = await tx.execute(
                "UPDATE media_fetches SET status = 'failed', attempts = attempts + 1,"
                " error = :error, updated_at = :now WHERE id = :id AND status = 'pending'",
                {"id": row.id, "error": reason, "now": times.now_iso()},
            )
            if not changed:
                return
            found = await tx.fetch_one(
                "SELECT conversation_id, seq FROM messages WHERE id = :m", {"m": row.message_id}
            )
            assert found is not None
            note = (
                f"File {row.n + 1} of the contact's message #{found['seq']} could not be"
                f" fetched from Twilio: {reason}."
            )
            await messages.insert(tx, found["conversation_id"], "system", note, private=True)

        await self.db.write(op)
