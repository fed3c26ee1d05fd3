"""How fast the reports answer over a large history.

    python bench/reports.py [--conversations 200000] [--messages 10] [--days 90] [--runs 40]

Builds a fresh data dir through the migrations, then fills it in bulk with direct SQL (the
report facts written as the chat would have written them): `--conversations` conversations
spread evenly over the last `--days` days, each with `--messages` messages (visitor, agent and
system in turn; some private notes), a fifth escalated, most closed, a third rated, with three
agents and two sites. Then it starts the real server (`run.py serve`) and times the summary and
the daily time series (first-response medians and conversation counts) for the last 90 days in
Europe/Berlin, over HTTP, printing p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import EMAIL, PASSWORD, free_port, start_server

from omnichat import times
from omnichat.settings import build_settings
from omnichat.storage import datadir


def iso(moment: datetime) -> str:
    return times.iso(moment)


def fill(path: Path, conversations: int, per: int, days: int) -> None:
    rng = random.Random(13)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    now = datetime.now(UTC)
    stamp = iso(now)
    db.execute(
        "INSERT INTO sites (tenant_id, name, site_key, created_at, updated_at)"
        " VALUES (1, 'Second', 'bench-second', ?, ?)",
        (stamp, stamp),
    )
    agents = []
    for n in range(3):
        agents.append(
            db.execute(
                "INSERT INTO users (tenant_id, email, name, role, password_hash, created_at,"
                " updated_at) VALUES (1, ?, ?, 'agent', 'x', ?, ?)",
                (f"agent{n}@example.com", f"Agent {n}", stamp, stamp),
            ).lastrowid
        )
    span = days * 86400
    visitor_rows, conversation_rows, message_rows = [], [], []
    first_id = (db.execute("SELECT COALESCE(MAX(id), 0) FROM conversations").fetchone()[0]) + 1
    for n in range(conversations):
        cid = first_id + n
        site = 1 if n % 4 else 2
        start = now - timedelta(seconds=span * (n + 0.5) / conversations)
        visitor_rows.append((cid, 1, site, iso(start), iso(start)))
        agent = agents[n % 3]
        at = start
        first_visitor = first_response = None
        visitor_at = response_ms = None
        counts = {"visitor": 0, "agent": 0}
        for seq in range(1, per + 1):
            kind = seq % 3
            sender, private, author = "visitor", 0, None
            if kind == 0:
                sender, author = "agent", agent
                private = 1 if seq % 9 == 0 else 0
            elif kind == 2:
                sender = "system"
            if n % 10 == 0 and sender == "agent":
                sender, author, private = "system", None, 0  # a tenth never answered
            message_rows.append((cid, seq, sender, author, "text", private, iso(at)))
            if sender == "visitor":
                counts["visitor"] += 1
                first_visitor = first_visitor or iso(at)
                visitor_at = visitor_at or at
            elif sender == "agent" and not private:
                counts["agent"] += 1
                if first_response is None and visitor_at is not None:
                    first_response = iso(at)
                    response_ms = round((at - visitor_at).total_seconds() * 1000)
            at += timedelta(seconds=rng.randint(5, 300))
        closed = iso(at) if n % 7 else None
        resolution_ms = (
            round((at - visitor_at).total_seconds() * 1000) if closed and visitor_at else None
        )
        escalated = iso(start + timedelta(seconds=90)) if n % 5 == 0 else None
        rating = rng.randint(1, 5) if n % 3 == 0 and closed else None
        conversation_rows.append(
            (
                cid,
                1,
                site,
                cid,
                "web" if n % 6 else "sms",
                "closed" if closed else "open",
                agent if n % 2 else None,
                per,
                iso(start),
                iso(at),
                closed,
                rating,
                closed if rating else None,
                first_visitor,
                first_response,
                agent if first_response else None,
                closed,
                escalated,
                counts["visitor"],
                counts["agent"],
                response_ms,
                resolution_ms,
            )
        )
        if len(message_rows) >= 200_000:
            flush(db, visitor_rows, conversation_rows, message_rows)
    flush(db, visitor_rows, conversation_rows, message_rows)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def flush(db: sqlite3.Connection, visitors: list, conversations: list, messages: list) -> None:  # type: ignore[type-arg]
    db.executemany(
        "INSERT INTO visitors (id, tenant_id, site_id, created_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?)",
        visitors,
    )
    db.executemany(
        "INSERT INTO conversations (id, tenant_id, site_id, visitor_id, channel, status,"
        " assignee_id, last_seq, created_at, updated_at, closed_at, rating_score, rated_at,"
        " first_visitor_message_at, first_response_at, first_responder_id, first_closed_at,"
        " escalated_at, visitor_messages, agent_messages, first_response_ms, resolution_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        conversations,
    )
    db.executemany(
        "INSERT INTO messages (conversation_id, seq, sender, author_id, text, private,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        messages,
    )
    visitors.clear()
    conversations.clear()
    messages.clear()


def timed(http: httpx.Client, path: str, params: dict[str, str], runs: int) -> list[float]:
    http.get(path, params=params).raise_for_status()  # warm the page cache
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        http.get(path, params=params).raise_for_status()
        took.append((time.perf_counter() - began) * 1000)
    return took


def line(name: str, took: list[float]) -> str:
    ordered = sorted(took)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{name:<34} p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=10, help="per conversation")
    parser.add_argument("--days", type=int, default=90, help="the history's span")
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        env = {
            "OMNICHAT_STORAGE_DATA_DIR": str(data_dir),
            "OMNICHAT_BOOTSTRAP_EMAIL": EMAIL,
            "OMNICHAT_BOOTSTRAP_PASSWORD": PASSWORD,
        }
        settings = datadir.prepare(build_settings({}, env), announce=lambda text: None)
        began = time.perf_counter()
        fill(settings.database_path, args.conversations, args.messages, args.days)
        total = args.conversations * args.messages
        print(
            f"filled {args.conversations} conversations, {total} messages over {args.days} days"
            f" in {time.perf_counter() - began:.1f} s"
        )
        port = free_port()
        server = start_server(data_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            login = httpx.post(
                f"{base}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            today = datetime.now(UTC).date()
            days = {
                "from": (today - timedelta(days=89)).isoformat(),
                "to": today.isoformat(),
                "tz": "Europe/Berlin",
            }
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                summary = http.get("/api/v1/reports/summary", params=days).json()
                print(f"range {days['from']}..{days['to']}: {summary['conversations']} convs")
                print("load average before timing:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
                for name, path, extra in [
                    ("summary", "/api/v1/reports/summary", {}),
                    ("summary site=2", "/api/v1/reports/summary", {"site": "2"}),
                    ("timeseries conversations day", "/api/v1/reports/timeseries", {}),
                    (
                        "timeseries first_response day",
                        "/api/v1/reports/timeseries",
                        {"metric": "first_response"},
                    ),
                    (
                        "timeseries messages hour",
                        "/api/v1/reports/timeseries",
                        {"metric": "messages", "interval": "hour"},
                    ),
                    ("agents", "/api/v1/reports/agents", {}),
                ]:
                    print(line(name, timed(http, path, {**days, **extra}, args.runs)))
            print("load average after timing:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
