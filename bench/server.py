"""Server throughput on loopback: event ingest (500-event batches) and a typical authenticated GET
under 64 concurrent connections, on SQLite and on PostgreSQL, against a real `labgate-server run`.

    .venv/bin/python bench/server.py [--batches 20] [--requests 3000] [--concurrency 64] [--workers 1]
                                     [--backends sqlite,postgresql] [--postgres postgresql://root@127.0.0.1/test]

The load generator (asyncio + httpx) runs on the same machine as the server and takes CPU from it,
so the numbers are a floor. Prints a table; never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.auth import service as auth  # noqa: E402
from server.auth.passwords import Passwords  # noqa: E402
from server.auth.roles import Role  # noqa: E402
from server.core import migrations  # noqa: E402
from server.core.database import Database  # noqa: E402
from server.core.settings import Settings  # noqa: E402
from server.people import service as people  # noqa: E402
from server.people.schemas import Kind, PersonIn  # noqa: E402

PASSWORD = "benchmark password"
REFERENCE = "seeds' FastAPI system: 618 ms mean response, 1.79 req/s"


@dataclass
class Result:
    backend: str
    ingest_eps: float
    batch_ms: tuple[float, float]  # median, p95
    get_rps: float
    get_ms: tuple[float, float, float]  # mean, p50, p95
    errors: int


def scratch_database(kind: str, postgres: str) -> tuple[str, Any]:
    """(URL, cleanup) of an empty database."""
    name = f"labgate_bench_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        folder = tempfile.TemporaryDirectory()
        return f"sqlite:///{folder.name}/{name}.db", folder.cleanup
    import psycopg

    admin_url = postgres.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def seed(url: str, people_count: int) -> None:
    database = Database(url)
    migrations.upgrade(database)
    settings = Settings(database_url=url)
    keys = auth.Keys(settings, Passwords(settings), b"unused")
    with database.session() as session:
        admin = people.create(session, None, PersonIn(number="1970000001", name="Bench Admin", kind=Kind.STAFF,
                                                      roles=[Role.ADMIN]))
        auth.set_password(session, keys, None, admin.id, PASSWORD)
        for i in range(people_count):
            people.create(session, None, PersonIn(number=f"22010{i:05d}", name=f"Student {i}"))
    database.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """A `labgate-server run` on a free loopback port, up and answering /health; the caller stops it."""
    port = free_port()
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_FACES_ENABLED": "false", "LABGATE_LOG_LEVEL": "warning"}
    log = os.environ.get("BENCH_SERVER_LOG")  # a file for the server's log, when something goes wrong
    with Path(log).open("w") if log else nullcontext(None) as log_file:  # the server keeps its own copy
        process = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--port", str(port), "--workers",
                                    str(workers)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=log_file or subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    process.wait(timeout=30)
    raise RuntimeError(f"labgate-server did not start on {base}; set BENCH_SERVER_LOG=<file> to see its log")


@contextmanager
def serving(url: str, workers: int) -> Iterator[str]:
    """``start``, then stop the server on the way out."""
    process, base = start(url, workers)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def events(start_seq: int, count: int) -> list[dict[str, Any]]:
    base = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    return [{"id": str(uuid.uuid4()), "seq": s, "person": f"22010{s % 200:05d}", "outcome": "accept",
             "method": "face", "score": 0.73, "margin": 0.21, "model_id": "bench-model",
             "captured_at": (base + timedelta(seconds=s)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "clock_suspect": False} for s in range(start_seq, start_seq + count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_ingest(base: str, admin: dict[str, str], batches: int) -> tuple[float, tuple[float, float]]:
    device = httpx.post(f"{base}/api/v1/devices", json={"name": "bench", "room": "LAB-1", "model_id": "bench-model"},
                        headers=admin).json()
    url = f"{base}/api/v1/devices/{device['device']['id']}/events:batch"
    token = "lgd_" + uuid.uuid4().hex + uuid.uuid4().hex  # the device token the kiosk makes at activation
    httpx.post(f"{base}/api/v1/devices/{device['device']['id']}:activate", timeout=30,
               json={"provisioning_token": device["provisioning_token"], "device_token": token}).raise_for_status()
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [{"events": events(1 + i * 500, 500)} for i in range(batches)]
    times: list[float] = []
    with httpx.Client(timeout=120) as client:
        client.post(url, json={"events": events(10_000_000, 10)}, headers={**headers, "Idempotency-Key": "warm"})
        started = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            reply = client.post(url, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            times.append(time.perf_counter() - t0)
            assert reply.status_code == 200 and all(r["status"] == "accepted" for r in reply.json()["results"])
        total = time.perf_counter() - started
    return batches * 500 / total, (statistics.median(times) * 1000, percentile(times, 0.95) * 1000)


async def measure_get(base: str, admin: dict[str, str], requests: int,
                      concurrency: int) -> tuple[float, tuple[float, float, float], int]:
    """(requests/s, (mean, p50, p95) latency in ms, errors)."""
    url = f"{base}/api/v1/people?limit=50"
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=admin) as client:
        for _ in range(concurrency):  # warm every connection
            await client.get(url)

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    response = await client.get(url)
                    errors += response.status_code != 200
                except httpx.HTTPError as exc:
                    errors += 1
                    print(f"GET failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        total = time.perf_counter() - started
    latency = (statistics.fmean(latencies) * 1000, percentile(latencies, 0.5) * 1000,
               percentile(latencies, 0.95) * 1000)
    return requests / total, latency, errors


def run(kind: str, args: argparse.Namespace) -> Result:
    url, cleanup = scratch_database(kind, args.postgres)
    try:
        seed(url, 200)
        with serving(url, args.workers) as base:
            tokens = httpx.post(f"{base}/api/v1/auth/login", json={"number": "1970000001", "password": PASSWORD}).json()
            admin = {"Authorization": f"Bearer {tokens['access_token']}"}
            eps, batch_ms = measure_ingest(base, admin, args.batches)
            rps, get_ms, errors = asyncio.run(measure_get(base, admin, args.requests, args.concurrency))
    finally:
        cleanup()
    return Result(kind, eps, batch_ms, rps, get_ms, errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20, help="500-event batches to push")
    parser.add_argument("--requests", type=int, default=3000, help="GET requests in the load test")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=os.environ.get("LABGATE_TEST_POSTGRES",
                                                             "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    results = [run(kind, args) for kind in args.backends.split(",")]
    print(f"\nlabgate-server on loopback, {args.workers} worker(s), {os.cpu_count()} CPUs shared with the load "
          f"generator; ingest: {args.batches} x 500 events, one kiosk; GET /api/v1/people?limit=50 (signed in): "
          f"{args.requests} requests over {args.concurrency} connections\n")
    print("| database | ingest events/s | batch of 500, ms (median / p95) | GET req/s | GET ms mean | "
          "GET ms (p50 / p95) | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.backend} | {r.ingest_eps:,.0f} | {r.batch_ms[0]:.0f} / {r.batch_ms[1]:.0f} | {r.get_rps:,.0f} | "
              f"{r.get_ms[0]:.0f} | {r.get_ms[1]:.0f} / {r.get_ms[2]:.0f} | {r.errors} |")
    print(f"| reference | not reported | not reported | 1.79 | 618 | not reported | not reported |   ({REFERENCE}; "
          f"its load and hardware are not known)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
