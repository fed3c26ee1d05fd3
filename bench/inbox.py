"""How fast the agents' inbox lists and searches as conversations pile up.

    python bench/inbox.py [--conversations 20000] [--messages 4]

Builds a fresh database in a temp dir through the real domain code (sessions, visitor messages,
agent replies), then times `inbox.page` (what GET /api/v1/conversations runs) for the common
views: the default open inbox, the active view (waited longest first), everything, unassigned, a
deep page reached by cursors, and search for a common and a rare word and for people (a fifth of
the visitors have a name, email and phone; a tenth left a follow-up). Prints p50/p95 in
milliseconds over repeated runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from omnichat import sites
from omnichat.chat import inbound, inbox, messages, visitors
from omnichat.chat.inbox import Filters
from omnichat.settings import build_settings
from omnichat.storage import datadir
from omnichat.storage.db import Database, SQLiteDatabase, Tx

WORDS = [
    "order",
    "refund",
    "delivery",
    "invoice",
    "password",
    "account",
    "shipping",
    "broken",
    "late",
    "thanks",
]
SURNAMES = ["Lopez", "Smith", "Garcia", "Nguyen", "Okafor", "Schmidt", "Rossi", "Kowalski"]


async def fill(db: Database, count: int, per_conversation: int) -> None:
    site = await sites.site_by_id(db, 1)
    assert site is not None
    rng = random.Random(7)

    async def one(n: int) -> None:
        _, visitor = await visitors.start_session(db, site, None)
        for m in range(per_conversation):
            text = " ".join(rng.choice(WORDS) for _ in range(8)) + f" ticket{n}x{m}"
            stored = await inbound.receive(db, site, visitor.id, "web", text, uuid.uuid4().hex)
        if n % 5 == 0:
            surname = SURNAMES[n % len(SURNAMES)]
            person = {
                "id": visitor.id,
                "name": f"Maria {surname}{n}",
                "email": f"maria.{surname.lower()}{n}@example.org",
                "phone": f"+44161{n:07d}",
            }
            await db.write(
                lambda tx: tx.execute(
                    "UPDATE visitors SET name = :name, email = :email, phone = :phone"
                    " WHERE id = :id",
                    person,
                )
            )
        if n % 10 == 0:
            await db.write(
                lambda tx: tx.execute(
                    "INSERT INTO followups (tenant_id, conversation_id, visitor_id, name, email,"
                    " phone, message, created_at, updated_at) VALUES (1, :c, :v, 'Jo',"
                    " 'jo@example.net', '+14155550100', :text, '2026-01-01', '2026-01-01')",
                    {"c": stored.conversation.id, "v": visitor.id, "text": text},
                )
            )
        if n % 3 == 0:  # a third are answered (and so assigned-ish traffic exists)

            async def answer(tx: Tx) -> None:
                await messages.insert(
                    tx, stored.conversation.id, "agent", "On it!", author=(1, "Owner")
                )
                await tx.execute(
                    "UPDATE conversations SET assignee_id = 1 WHERE id = :id",
                    {"id": stored.conversation.id},
                )

            await db.write(answer)
        if n % 4 == 0:
            await db.write(
                lambda tx: tx.execute(
                    "UPDATE conversations SET status = 'closed' WHERE id = :id",
                    {"id": stored.conversation.id},
                )
            )

    started = time.perf_counter()
    for start in range(0, count, 500):
        await asyncio.gather(*(one(n) for n in range(start, min(count, start + 500))))
    print(f"filled {count} conversations in {time.perf_counter() - started:.1f}s")


async def timed(label: str, run: object, repeat: int = 50) -> None:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<40} p50={statistics.median(samples):6.2f} ms  p95={p95:6.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=20000)
    parser.add_argument("--messages", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = build_settings({}, {"OMNICHAT_STORAGE_DATA_DIR": tmp})
        settings = datadir.prepare(settings, announce=lambda text: None)
        db = SQLiteDatabase(settings.database_path, synchronous="normal")
        await db.connect()
        await fill(db, args.conversations, args.messages)

        def page(filters: Filters, limit: int = 50) -> object:
            return lambda: inbox.page(db, 1, 1, filters, None, limit)

        async def deep() -> None:
            cursor = None
            for _ in range(10):
                _, cursor = await inbox.page(db, 1, 1, Filters("all"), cursor, 50)

        await timed("open inbox, first page of 50", page(Filters()))
        await timed("active (waited longest), first page", page(Filters("active")))
        await timed("all, first page of 50", page(Filters("all")))
        await timed("unassigned open, first page", page(Filters("open", "none")))
        await timed("assigned to me, first page", page(Filters("all", "me")))
        await timed("all, ten pages by cursor (all ten)", deep, repeat=10)
        await timed("search common word 'refund' (all)", page(Filters("all", None, "refund")))
        await timed("search two words (all)", page(Filters("all", None, "late refu")))
        await timed("search rare word (all)", page(Filters("all", None, "ticket77x1")))
        await timed("search name prefix 'Lop' (all)", page(Filters("all", None, "Lop")))
        await timed("search one letter 'm' (all)", page(Filters("all", None, "m")))
        email = "maria.lopez800@example.org"
        await timed("search whole email (all)", page(Filters("all", None, email)))
        await timed(
            "search phone '0161 000 0800' (all)", page(Filters("all", None, "0161 000 0800"))
        )
        await timed("one conversation (item)", lambda: inbox.item(db, 1, 1, 1))
        size = await db.fetch_value(
            "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"
        )
        text = await db.fetch_value("SELECT SUM(LENGTH(text)) FROM messages")
        index = await db.fetch_value("SELECT SUM(LENGTH(block)) FROM messages_fts_data")
        print(
            f"database {size / 1e6:.1f} MB; message text {text / 1e6:.1f} MB;"
            f" search index {index / 1e6:.1f} MB"
        )
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
