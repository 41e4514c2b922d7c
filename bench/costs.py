"""What a crowd of failed logins and one huge photo cost a real `labgate-server run` (SQLite, loopback):
peak memory (VmHWM of the server process) and time, printed beside the reference.

    .venv/bin/python bench/costs.py [--logins 40] [--only logins|photos]

- Failed logins: ``--logins`` wrong-password logins at once (each for its own number), first with
  every hash allowed at once (``LABGATE_ARGON2_MAX_CONCURRENT`` = the crowd: as before issue 13), then
  with the default bound; argon2id at the default 64 MiB, time cost 3.
- Photos: a 6324 x 6324 single-colour PNG (the probe's photo, just under 40 Mpx) and a 7300 x 5475
  JPEG (40 Mpx) with a real face (an LFW photo of $LABGATE_DATA scaled up), uploaded one at a time
  after a small photo has loaded the models. Reference: the probe measured 49 s and 3.3 GB for the PNG.

The machine is shared (2 cores): figures are indicative. Never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SERVER = Path(sys.executable).with_name("labgate-server")
PASSWORD = "benchmark admin password"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss, peak = (int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
                 for key in ("VmRSS", "VmHWM"))
    return rss, peak


class Server:
    """A migrated SQLite database with an admin, and `labgate-server run` on it."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.env = {**os.environ, "LABGATE_DATABASE_URL": f"sqlite:///{folder / 'server.db'}", **env}
        for args, stdin in ((["migrate"], None), (["create-admin", "--number", "1970000001", "--name", "Admin",
                                                     "--password-stdin"], PASSWORD + "\n")):
            subprocess.run([str(SERVER), *args], env=self.env, input=stdin, text=True, check=True,
                           capture_output=True)
        self.base = f"http://127.0.0.1:{_port()}"
        self.process = subprocess.Popen([str(SERVER), "run", "--port", self.base.rsplit(":", 1)[1],
                                         "--no-access-log"], env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        tokens = httpx.post(f"{self.base}/api/v1/auth/login", json={"number": "1970000001", "password": PASSWORD},
                            timeout=60).json()
        self.admin = {"Authorization": f"Bearer {tokens['access_token']}"}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def logins(crowd: int, bound: int | None) -> tuple[float, float, float, Counter[int]]:
    """(peak MB before, peak MB after, seconds, statuses) for ``crowd`` failed logins at once."""
    with tempfile.TemporaryDirectory() as folder:
        env = {"LABGATE_FACES_ENABLED": "false", "LABGATE_ARGON2_MAX_CONCURRENT": str(bound or crowd)}
        server = Server(Path(folder), **env)
        try:
            _, before = _memory(server.process.pid)
            start = threading.Barrier(crowd)

            def one(n: int) -> int:
                with httpx.Client(timeout=120) as client:
                    start.wait()
                    return client.post(f"{server.base}/api/v1/auth/login",
                                       json={"number": f"22019{n:05d}", "password": "a wrong guess"}).status_code

            began = time.perf_counter()
            with ThreadPoolExecutor(crowd) as pool:
                statuses = Counter(pool.map(one, range(crowd)))
            took = time.perf_counter() - began
            _, after = _memory(server.process.pid)
        finally:
            server.stop()
    return before, after, took, statuses


def _face_photo(size: tuple[int, int]) -> bytes | None:
    data = os.environ.get("LABGATE_DATA") or str(ROOT.parent / "shared" / "data")
    found = sorted((Path(data) / "lfw_people" / "known").glob("*/*.jpg"))
    if not found:
        return None
    buffer = io.BytesIO()
    Image.open(found[0]).convert("RGB").resize(size, Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photos() -> list[tuple[str, int, int, float, float, float]]:
    """(what, bytes, status, seconds, peak MB before, peak MB after) per upload."""
    flat = io.BytesIO()
    Image.new("RGB", (6324, 6324), (200, 180, 160)).save(flat, "PNG")
    uploads = [("6324x6324 single-colour PNG", flat.getvalue())]
    face = _face_photo((7300, 5475))
    if face is not None:
        uploads.append(("7300x5475 JPEG, one face", face))
    small = _face_photo((250, 250))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder))
        try:
            person = httpx.post(f"{server.base}/api/v1/people", json={"number": "2201000001", "name": "Siti",
                                                                      "kind": "student"}, headers=server.admin).json()
            httpx.post(f"{server.base}/api/v1/people/{person['id']}/consents",
                       json={"purpose": "face_recognition", "granted": True}, headers=server.admin)
            url = f"{server.base}/api/v1/people/{person['id']}/photos"
            warm = small or uploads[0][1]
            httpx.post(url, files={"photo": ("warm.jpg", warm, "image/jpeg")}, headers=server.admin, timeout=300)
            for what, data in uploads:
                _, before = _memory(server.process.pid)
                began = time.perf_counter()
                answer = httpx.post(url, files={"photo": ("big", data, "application/octet-stream")},
                                    headers=server.admin, timeout=600)
                took = time.perf_counter() - began
                _, after = _memory(server.process.pid)
                rows.append((what, len(data), answer.status_code, took, before, after))
        finally:
            server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--only", choices=("logins", "photos"), help="run one half")
    args = parser.parse_args()
    if args.only != "photos":
        _print_logins(args.logins)
    if args.only != "logins":
        _print_photos()


def _print_logins(crowd: int) -> None:
    print(f"{crowd} failed logins at once (argon2id 64 MiB, t=3), server peak RSS (VmHWM):")
    print("| hashes at once | peak before | peak after | time | answers |")
    print("|---|---|---|---|---|")
    for bound, label in ((None, f"{crowd} (unbounded, as before)"), (2, "2 (default bound)")):
        before, after, took, statuses = logins(crowd, bound)
        answers = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        print(f"| {label} | {before:.0f} MB | {after:.0f} MB | {took:.1f} s | {answers} |")
    print()


def _print_photos() -> None:
    print("photo uploads (one at a time, models loaded), server peak RSS (VmHWM); reference: the probe's PNG took "
          "49 s and 3.3 GB before issue 13")
    print("| photo | size | answer | time | peak before | peak after |")
    print("|---|---|---|---|---|---|")
    for what, size, status, took, before, after in photos():
        print(f"| {what} | {size / 1e3:.0f} kB | {status} | {took:.1f} s | {before:.0f} MB | {after:.0f} MB |")


if __name__ == "__main__":
    main()
