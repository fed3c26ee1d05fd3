"""Twilio webhook benchmark: signed inbound SMS at a fixed offered rate, latency to the 200.

Open loop: request i is due at start + i / rate and is sent then whatever happened to the
others, and its latency counts from that due time (so a stalled server shows up as latency,
not as a lower rate). Each run starts its own server (limits off) with Twilio configured
against a local stand-in of Twilio's API, so the greetings the texts trigger really go out
through the outbox while the webhook is measured. The mix: most texts come from a pool of
returning contacts (joining their conversation), some from new numbers (creating contact and
conversation, plus the greeting), and a few are Twilio retries of an earlier MessageSid.

    python bench/twilio_webhook.py --rate 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import Usage, free_port, start_server  # noqa: E402

from omnichat.twilio import signature  # noqa: E402
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn  # noqa: E402

PUBLIC = "https://chat.example.test"
SMS_NUMBER = "+15550039000"


def give_number(database: Path) -> None:
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as db:
        db.execute("UPDATE sites SET sms_number = ? WHERE id = 1", (SMS_NUMBER,))
        db.commit()


def signed(params: dict[str, str]) -> tuple[str, dict[str, str]]:
    header = signature.compute(PUBLIC + "/webhooks/twilio", params.items(), AUTH_TOKEN)
    return urlencode(params), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": header,
    }


def plan(count: int, contacts: int, rng: random.Random) -> list[dict[str, str]]:
    """The requests, in order: returning contacts, new numbers and Twilio retries."""
    pool = [f"+1555{2000000 + n:07d}" for n in range(contacts)]
    sent: list[dict[str, str]] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.03 and sent:
            sent.append(dict(rng.choice(sent)))  # a retry: same MessageSid
            continue
        phone = f"+1556{n:07d}" if roll < 0.25 else rng.choice(pool)
        sent.append(
            {
                "AccountSid": ACCOUNT_SID,
                "MessageSid": "SM" + uuid.uuid4().hex,
                "From": phone,
                "To": SMS_NUMBER,
                "Body": "Hello, is anyone there? " * rng.randint(1, 4),
                "NumMedia": "0",
            }
        )
    return sent


async def run(rate: float, seconds: float, warmup: float, contacts: int, port: int) -> None:
    rng = random.Random(11)
    total = int(rate * (seconds + warmup))
    requests = plan(total, contacts, rng)
    url = f"http://127.0.0.1:{port}/webhooks/twilio"
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(index: int, due: float) -> None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body, headers = signed(requests[index])
            try:
                response = await client.post(url, content=body, headers=headers)
                key: int | str = response.status_code
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1
            if due - start >= warmup:
                latencies.append(time.perf_counter() - due)

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(i, start + i / rate) for i in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    ms = [value * 1000 for value in latencies]
    print(f"offered {rate:.0f}/s for {seconds:.0f}s (+{warmup:.0f}s warm-up), {total} requests")
    print(f"achieved {total / elapsed:.1f}/s; statuses {statuses}")
    p50, p90, p99 = (ms[int(len(ms) * q)] for q in (0.5, 0.9, 0.99))
    print(
        f"latency ms: p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  max {ms[-1]:.1f}"
        f"  mean {statistics.fmean(ms):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured duration")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured first seconds")
    parser.add_argument("--contacts", type=int, default=300, help="returning contacts")
    args = parser.parse_args()
    standin = TwilioStandIn()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        data_dir = Path(tmp) / "data"
        server = start_server(
            data_dir,
            port,
            OMNICHAT_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            OMNICHAT_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            OMNICHAT_TWILIO_PUBLIC_BASE_URL=PUBLIC,
            OMNICHAT_TWILIO_API_BASE_URL=standin.base_url,
            OMNICHAT_TWILIO_PER_NUMBER_PER_MINUTE="0",
        )
        try:
            give_number(data_dir / "omnichat.sqlite")
            cpu_before, wall_before = Usage(server.pid).cpu_seconds(), time.perf_counter()
            asyncio.run(run(args.rate, args.seconds, args.warmup, args.contacts, port))
            cpu = Usage(server.pid).cpu_seconds() - cpu_before
            wall = time.perf_counter() - wall_before
            share = 100 * cpu / wall
            print(f"server CPU {share:.0f}% of one core; texts accepted {len(standin.accepted)}")
        finally:
            server.terminate()
            server.wait(20)
            standin.close()


if __name__ == "__main__":
    main()
