"""Escalation precision: a burst of waiting conversations whose steps all come due together.

N visitors (each with its socket open) write within about a second, nobody answers, and the
patience and escalation steps of all N fall due in the same second or two. Optionally other
visitors keep chatting at a fixed rate meanwhile (--background), so the steps compete with
ordinary traffic. Reported per step: how late it was stored (server clock: message created_at
minus due time) and how late it reached the visitor's socket, and the spread of fire times.

    python bench/escalation_burst.py --conversations 500 --patience 5 --escalate 10
    python bench/escalation_burst.py --conversations 500 --background 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import EMAIL, PASSWORD, free_port, start_server

PATIENCE = "We are still trying to locate an available staff member, thank you for your patience."


def parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def open_visitor(
    http: httpx.AsyncClient, ws_url: str, site_key: str
) -> tuple[str, ClientConnection]:
    token = (await http.post("/api/v1/widget/session", json={"site_key": site_key})).json()["token"]
    ws = await connect(f"{ws_url}/ws/visitor", max_queue=None)
    await ws.send(orjson.dumps({"type": "hello", "token": token, "last_seq": 0}).decode())
    await ws.recv()  # welcome
    return token, ws


async def watch(ws: ClientConnection, seen: dict[str, float], escalate_text: str) -> None:
    """Send the visitor's message, then note when the patience and escalation messages arrive."""
    await ws.send(orjson.dumps({"type": "message", "client_id": "q", "text": "anyone?"}).decode())
    while escalate_text not in seen:
        frame = orjson.loads(await ws.recv())
        if frame["type"] == "ack":
            seen["conversation"] = frame["message"]["conversation_id"]
        elif frame["type"] == "message" and frame["message"]["sender"] == "system":
            seen.setdefault(frame["message"]["text"], time.time())


async def background(http: httpx.AsyncClient, site_key: str, rate: float, stop: asyncio.Event):
    """Other visitors chatting at `rate` messages per second until `stop`."""
    if rate <= 0:
        return
    tokens = [
        (await http.post("/api/v1/widget/session", json={"site_key": site_key})).json()["token"]
        for _ in range(50)
    ]
    sent, started = 0, time.monotonic()
    pending: set[asyncio.Task[httpx.Response]] = set()
    while not stop.is_set():
        due = started + sent / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        task = asyncio.create_task(
            http.post(
                "/api/v1/widget/messages",
                json={"client_id": uuid.uuid4().hex, "text": f"chat {sent}"},
                headers={"Authorization": f"Bearer {tokens[sent % len(tokens)]}"},
            )
        )
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
    await asyncio.gather(*pending, return_exceptions=True)


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{name}: n={len(values)} min={ordered[0]:.3f}s median={statistics.median(ordered):.3f}s"
        f" p99={p99:.3f}s max={ordered[-1]:.3f}s"
    )


async def run(args: argparse.Namespace) -> None:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="omnichat-bench-")) / "data"
    server = start_server(data_dir, port)
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}
            )
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            timings = {"patience_seconds": args.patience, "escalate_seconds": args.escalate}
            made = await http.post("/api/v1/sites", json={"name": "burst", **timings}, headers=auth)
            site = made.json()["site"]
            chat = await http.post("/api/v1/sites", json={"name": "chat"}, headers=auth)
            escalate_text = site["escalate_text"]
            limit = asyncio.Semaphore(50)

            async def opened() -> tuple[str, ClientConnection]:
                async with limit:
                    return await open_visitor(http, ws_url, site["site_key"])

            visitors = await asyncio.gather(*(opened() for _ in range(args.conversations)))
            print(f"{len(visitors)} visitors connected; starting the burst")
            arrivals: list[dict[str, float]] = [{} for _ in visitors]
            stop = asyncio.Event()
            chatter = asyncio.create_task(
                background(http, chat.json()["site"]["site_key"], args.background, stop)
            )
            # Every visitor writes at once over its socket; nobody answers.
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        watch(ws, seen, escalate_text)
                        for (_, ws), seen in zip(visitors, arrivals, strict=True)
                    )
                ),
                args.escalate + 60,
            )
            stop.set()
            await chatter
            for _, ws in visitors:
                with contextlib.suppress(Exception):
                    await ws.close()
    finally:
        server.terminate()
        server.wait()
    ids = [int(seen["conversation"]) for seen in arrivals]
    report(data_dir / "omnichat.sqlite", ids, arrivals, args, escalate_text)


def report(
    path: Path,
    ids: list[int],
    arrivals: list[dict[str, float]],
    args: argparse.Namespace,
    escalate_text: str,
) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        stored: dict[int, dict[str, float]] = {}
        for conversation_id, sender, text, created in db.execute(
            "SELECT conversation_id, sender, text, created_at FROM messages"
            " WHERE conversation_id IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (orjson.dumps(ids).decode(),),
        ):
            key = "clock" if sender == "visitor" else text
            stored.setdefault(conversation_id, {}).setdefault(key, parse(created))
    for text, delay in ((PATIENCE, args.patience), (escalate_text, args.escalate)):
        name = "patience" if text == PATIENCE else "escalation"
        dues = [stored[i]["clock"] + delay for i in ids]
        fired = [stored[i][text] for i in ids]
        late_stored = [f - d for f, d in zip(fired, dues, strict=True)]
        late_seen = [a[text] - d for a, d in zip(arrivals, dues, strict=True)]
        print(summary(f"{name} stored after due", late_stored))
        print(summary(f"{name} delivered after due", late_seen))
        print(
            f"{name}: due times spread over {max(dues) - min(dues):.3f}s,"
            f" fire times over {max(fired) - min(fired):.3f}s"
        )
        counts = [
            row[0]
            for row in sqlite3.connect(path).execute(
                "SELECT COUNT(*) FROM messages WHERE text = ?"
                " AND conversation_id IN (SELECT value FROM json_each(?)) GROUP BY conversation_id",
                (text, orjson.dumps(ids).decode()),
            )
        ]
        print(f"{name}: {len(counts)} conversations, each exactly once: {set(counts) == {1}}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--escalate", type=int, default=10)
    parser.add_argument("--background", type=float, default=0, help="other messages per second")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
