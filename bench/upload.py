"""One 10 MB upload against a real server: how long it takes and how much the server's RSS grows.

The server is started fresh (data in a temporary folder); its resident memory is sampled every
5 ms from /proc while a staff member uploads one file of `--mb` MB (a PDF header, then random
bytes, so nothing compresses), then while the file is downloaded once.

    python bench/upload.py --mb 10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load


def rss(pid: int) -> int:
    """Resident bytes of `pid` now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Sampler:
    """The highest RSS seen while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss(self.pid))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=10.0)
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024)
    data = b"%PDF-1.4\n" + os.urandom(size - 9)
    with tempfile.TemporaryDirectory() as folder:
        port = load.free_port()
        server = load.start_server(
            Path(folder) / "data", port, OMNICHAT_ATTACHMENTS_MAX_BYTES=str(size)
        )
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=120) as http:
                login = http.post(
                    "/api/v1/auth/login", json={"email": load.EMAIL, "password": load.PASSWORD}
                )
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                # A small upload first, so one-time imports and caches are not counted.
                http.post(
                    "/api/v1/attachments", files={"file": ("w.pdf", data[:1024])}, headers=headers
                ).raise_for_status()
                time.sleep(0.5)
                before = rss(server.pid)
                with Sampler(server.pid) as sampler:
                    started = time.perf_counter()
                    answer = http.post(
                        "/api/v1/attachments", files={"file": ("big.pdf", data)}, headers=headers
                    )
                    upload_s = time.perf_counter() - started
                answer.raise_for_status()
                url = answer.json()["attachment"]["url"]
                after = rss(server.pid)
                with Sampler(server.pid) as reading:
                    started = time.perf_counter()
                    body = http.get(url).content
                    download_s = time.perf_counter() - started
                assert body == data, "the file came back different"
        finally:
            server.terminate()
            server.wait(10)
    mb = 1024 * 1024
    print(f"file: {size / mb:.1f} MB")
    print(
        f"upload: {upload_s * 1000:.0f} ms; server RSS {before / mb:.1f} MB before,"
        f" peak +{(sampler.peak - before) / mb:.1f} MB, after +{(after - before) / mb:.1f} MB"
    )
    print(f"download: {download_s * 1000:.0f} ms; peak RSS +{(reading.peak - before) / mb:.1f} MB")


if __name__ == "__main__":
    main()
