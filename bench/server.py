"""labgate-server against the floor of its own stack, in one run: real server processes on loopback,
load from ``wrk`` (compiled, Debian's package, ``make system``), on SQLite and PostgreSQL with 200
people, with 1 and 2 server processes.

    .venv/bin/python bench/server.py [--seconds 5] [--rounds 3] [--connections 32] [--threads 2]
                                     [--workers 1,2] [--backends sqlite,postgresql] [--batches 20]
                                     [--postgres postgresql://root@127.0.0.1:5432/test] [--previous REV]

For each database and process count it starts labgate-server and ``bench/minimal_app.py`` (FastAPI +
SQLAlchemy, nothing else, run by the same uvicorn with the same options) side by side on the same
database, and loads, on one then the other: ``GET /api/v1/people?limit=50`` and ``GET /api/v1/people/{id}``
(labgate signed in with an admin's bearer token; the minimal app's same answers without), and labgate's
``GET /health`` against the minimal ``/hello``; ``--rounds`` times over, so a slow spell of the machine
falls on both sides of a pair. It prints the medians of the rounds (requests/s, p50/p95/p99 latency,
server CPU per request), the ratio labgate/minimal and each round's ratio; with ``--previous REV``
also labgate-server as of that revision, loaded in the same rounds. Then event ingest:
``--batches`` batches of 500 events from one kiosk (events/s and batch times), and that it stayed
exactly-once (the same batch again, under its key and under a new key, stores nothing new; the
database holds each event once).

wrk runs on the same 2-core machine as the servers (its 2 threads take CPU from them), so the
absolute figures are a floor and move with whatever else runs; the ratios are the point. Every
request must answer 200: any other status or socket error is printed. Never imported by tests.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
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

from bench.benchdb import ADMIN, PASSWORD, free_port, scratch  # noqa: E402

PEOPLE = "/api/v1/people?limit=50"
UVICORN = ["--no-server-header", "--no-proxy-headers", "--no-access-log", "--log-level", "warning"]


@dataclass(frozen=True)
class Load:
    """What wrk measured for one URL."""

    rps: float
    p50: float  # ms
    p95: float
    p99: float
    requests: int
    bad: int  # non-2xx answers and socket errors
    cpu_us: float = 0.0  # the server's CPU time (all its processes and threads) per request


    def cell(self) -> str:
        return f"{self.rps:,.0f}"

    def latency(self) -> str:
        return f"{self.p50:.1f} / {self.p95:.1f} / {self.p99:.1f}"


# wrk's Lua hook: after the run, print the percentiles the table needs (microseconds), one per line.
REPORT = """
done = function(summary, latency, requests)
  for _, p in pairs({50, 95, 99}) do
    io.write(string.format("percentile %d %d\\n", p, latency:percentile(p)))
  end
  io.write(string.format("errors %d %d %d %d %d\\n", summary.errors.connect, summary.errors.read,
                         summary.errors.write, summary.errors.status, summary.errors.timeout))
  io.write(string.format("total %d %d\\n", summary.requests, summary.duration))
end
"""


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def wrk(url: str, seconds: float, connections: int, threads: int, headers: dict[str, str], script: Path,
        pid: int | None = None) -> Load:
    before = cpu_seconds(pid) if pid else 0.0
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    used = cpu_seconds(pid) - before if pid else 0.0
    percentiles = {int(p): int(v) / 1000 for p, v in re.findall(r"^percentile (\d+) (\d+)$", output, re.M)}
    errors = [int(n) for n in re.search(r"^errors (\d+) (\d+) (\d+) (\d+) (\d+)$", output, re.M).groups()]  # type: ignore[union-attr]
    requests, duration_us = (int(n) for n in re.search(r"^total (\d+) (\d+)$", output, re.M).groups())  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    bad = sum(errors[:3]) + errors[4] + (int(non_2xx.group(1)) if non_2xx else 0)
    if bad:
        print(f"  {url}: {bad} failed requests (connect/read/write/status/timeout {errors})", file=sys.stderr)
    return Load(requests / (duration_us / 1e6), percentiles[50], percentiles[95], percentiles[99], requests, bad,
                used / max(1, requests) * 1e6)


@contextmanager
def process(command: list[str], url: str, ready: str, root: Path = ROOT) -> Iterator[tuple[str, int]]:
    """A server process on a free loopback port (``{port}`` in ``command``), answering ``ready`` with 200."""
    port = free_port()
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_FACES_ENABLED": "false", "LABGATE_LOG_LEVEL": "warning",
           "PYTHONPATH": str(root)}  # ``root``'s code, ahead of the editable install's
    log = os.environ.get("BENCH_SERVER_LOG")  # a file for the servers' logs, when something goes wrong
    with Path(log).open("a") if log else nullcontext(None) as log_file:
        server = subprocess.Popen([part.replace("{port}", str(port)) for part in command], env=env, cwd=root,
                                  stdout=subprocess.DEVNULL, stderr=log_file or subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a loaded machine starts two workers slowly
        while True:
            try:
                if httpx.get(base + ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[2]} did not start on {base}; set BENCH_SERVER_LOG=<file> to see its log")
            time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def labgate(url: str, workers: int, root: Path = ROOT) -> Any:
    """labgate-server from the code in ``root`` (this checkout, or ``--previous``'s)."""
    return process([sys.executable, "-m", "server.cli", "run", "--port", "{port}", "--workers", str(workers),
                    "--no-access-log"], url, "/health", root)


def minimal(url: str, workers: int) -> Any:
    return process([sys.executable, "-m", "uvicorn", "bench.minimal_app:create_app", "--factory", "--host",
                    "127.0.0.1", "--port", "{port}", "--workers", str(workers), *UVICORN], url, "/hello")


def sign_in(base: str) -> dict[str, str]:
    reply = httpx.post(f"{base}/api/v1/auth/login", json={"number": ADMIN, "password": PASSWORD}, timeout=30)
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def same_page(ours: Any, floor: Any) -> None:
    """labgate's page and the minimal app's hold the same people (ids, numbers, roles) and total."""
    def key(page: Any) -> Any:
        return page["total"], [(p["id"], p["number"], p["roles"]) for p in page["items"]]

    assert key(ours) == key(floor), "the minimal app's page differs from labgate-server's"


def same_person(ours: Any, floor: Any) -> None:
    """labgate's answer for one person and the minimal app's are the same person with the same roles."""
    assert (ours["id"], ours["number"], ours["roles"]) == (floor["id"], floor["number"], floor["roles"]), \
        "the minimal app's person differs from labgate-server's"


def events(start_seq: int, count: int) -> list[dict[str, Any]]:
    base = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    return [{"id": str(uuid.uuid4()), "seq": s, "person": f"22010{s % 200:05d}",
             "outcome": "accept", "method": "face", "score": 0.73, "margin": 0.21, "model_id": "bench-model",
             "captured_at": (base + timedelta(seconds=s)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "clock_suspect": False} for s in range(start_seq, start_seq + count)]


@dataclass(frozen=True)
class Ingest:
    eps: float
    batch_ms: tuple[float, float]  # median, p95
    exactly_once: str
    cpu_ms: float  # the server's CPU time per batch of 500


def measure_ingest(base: str, pid: int, url: str, admin: dict[str, str], batches: int) -> Ingest:
    device = httpx.post(f"{base}/api/v1/devices", json={"name": "bench", "room": "LAB-1", "model_id": "bench-model"},
                        headers=admin, timeout=30).json()
    push = f"{base}/api/v1/devices/{device['device']['id']}/events:batch"
    token = "lgd_" + uuid.uuid4().hex + uuid.uuid4().hex  # the device token the kiosk makes at activation
    httpx.post(f"{base}/api/v1/devices/{device['device']['id']}:activate", timeout=30,
               json={"provisioning_token": device["provisioning_token"], "device_token": token}).raise_for_status()
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [{"events": events(11 + i * 500, 500)} for i in range(batches)]  # after the warm-up's 1..10
    keys = [str(uuid.uuid4()) for _ in bodies]
    times: list[float] = []
    with httpx.Client(timeout=120, headers=headers) as client:
        client.post(push, json={"events": events(1, 10)}, headers={"Idempotency-Key": "warm"})
        started, cpu_before = time.perf_counter(), cpu_seconds(pid)
        for body, key in zip(bodies, keys, strict=True):
            t0 = time.perf_counter()
            reply = client.post(push, json=body, headers={"Idempotency-Key": key})
            times.append(time.perf_counter() - t0)
            assert reply.status_code == 200, reply.text
            assert all(r["status"] == "accepted" for r in reply.json()["results"]), reply.text[:300]
        total, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
        again = client.post(push, json=bodies[0], headers={"Idempotency-Key": keys[0]})  # a retried request
        anew = client.post(push, json=bodies[0], headers={"Idempotency-Key": str(uuid.uuid4())})  # re-sent events
    replayed = again.status_code == 200 and all(r["status"] == "accepted" for r in again.json()["results"])
    duplicates = anew.status_code == 200 and all(r["status"] == "duplicate" for r in anew.json()["results"])
    stored = count_events(url)
    held = replayed and duplicates and stored == batches * 500 + 10
    verdict = "yes" if held else f"NO (replay {replayed}, duplicates {duplicates}, {stored} stored)"
    ordered = sorted(times)
    return Ingest(batches * 500 / total, (ordered[len(ordered) // 2] * 1000,
                                          ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000), verdict,
                  cpu / batches * 1000)


def count_events(url: str) -> int:
    from sqlalchemy import text

    from server.core.database import Database

    database = Database(url)
    try:
        with database.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM events")).scalar_one())
    finally:
        database.dispose()


@contextmanager
def worktree(revision: str | None, folder: Path) -> Iterator[Path | None]:
    """This repository's code as of ``revision``, checked out in ``folder`` for the run (None: nothing)."""
    if not revision:
        yield None
        return
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), revision], cwd=ROOT, check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


@dataclass(frozen=True)
class Row:
    backend: str
    workers: int
    endpoint: str
    ours: Load  # the medians of the rounds
    floor: Load
    ratios: list[float]  # labgate/minimal req/s, round by round
    previous: Load | None  # --previous's labgate, the same way


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def medians(loads: list[Load]) -> Load:
    """Each figure's median over the rounds (failed requests: the sum)."""
    def middle(name: str) -> float:
        return median([getattr(load, name) for load in loads])

    return Load(middle("rps"), middle("p50"), middle("p95"), middle("p99"), sum(load.requests for load in loads),
                sum(load.bad for load in loads), middle("cpu_us"))


def run(kind: str, args: argparse.Namespace, script: Path) -> tuple[list[Row], Ingest | None]:
    """Both servers up side by side, each endpoint loaded on labgate then on the minimal app, round after
    round (``--rounds``): a slow spell of the machine falls on both of a pair, and the medians of the
    rounds are the figures."""
    rows: list[Row] = []
    ingest: Ingest | None = None

    def load(pid: int, url: str, headers: dict[str, str] | None = None) -> Load:
        wrk(url, 1, args.connections, args.threads, headers or {}, script)  # warm every process and connection
        return wrk(url, args.seconds, args.connections, args.threads, headers or {}, script, pid)

    with scratch(kind, args.postgres, 200) as url:
        for workers in args.workers:
            print(f"{kind}, {workers} process(es): labgate-server and the minimal app ...", file=sys.stderr)
            with (labgate(url, workers) as (base, pid), minimal(url, workers) as (floor, floor_pid),
                  labgate(url, workers, args.previous) if args.previous else nullcontext(("", 0)) as (old, old_pid)):
                admin = sign_in(base)
                ours_page = httpx.get(base + PEOPLE, headers=admin, timeout=30).json()
                one = f"/api/v1/people/{ours_page['items'][0]['id']}"
                same_page(ours_page, httpx.get(floor + PEOPLE, timeout=30).json())
                same_person(httpx.get(base + one, headers=admin, timeout=30).json(),
                            httpx.get(floor + one, timeout=30).json())
                pairs = {"people": (PEOPLE, PEOPLE), "person": (one, one), "health": ("/health", "/hello")}
                seen: dict[str, tuple[list[Load], list[Load], list[Load]]] = {name: ([], [], []) for name in pairs}
                for round_ in range(args.rounds):
                    for name, (ours_path, floor_path) in pairs.items():
                        print(f"  round {round_ + 1}: {name}", file=sys.stderr)
                        seen[name][0].append(load(pid, base + ours_path, admin))
                        seen[name][1].append(load(floor_pid, floor + floor_path))
                        if old:
                            seen[name][2].append(load(old_pid, old + ours_path, admin))
            rows += [Row(kind, workers, name, medians(ours), medians(floors),
                         [o.rps / f.rps for o, f in zip(ours, floors, strict=True)], medians(olds) if olds else None)
                     for name, (ours, floors, olds) in seen.items()]
        if args.batches:
            print(f"{kind}: ingest ...", file=sys.stderr)
            with labgate(url, 1) as (base, pid):
                ingest = measure_ingest(base, pid, url, sign_in(base), args.batches)
    return rows, ingest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5, help="length of each measured wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every endpoint on both servers")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--workers", default="1,2", help="server process counts to measure")
    parser.add_argument("--batches", type=int, default=20, help="500-event batches to push (0: no ingest)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=os.environ.get("LABGATE_TEST_POSTGRES",
                                                             "postgresql://root@127.0.0.1:5432/test"))
    parser.add_argument("--previous", metavar="REV", help="also run labgate-server as of this git revision (a "
                        "temporary worktree; its schema must be this code's) and print it beside")
    args = parser.parse_args()
    args.workers = [int(n) for n in args.workers.split(",")]
    if shutil.which("wrk") is None:
        print("bench/server.py needs wrk: `make system` installs it (Debian package wrk)", file=sys.stderr)
        return 2
    import tempfile

    previous_name = args.previous and subprocess.run(["git", "rev-parse", "--short", args.previous], cwd=ROOT,
                                                     capture_output=True, text=True, check=True).stdout.strip()

    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "report.lua"
        script.write_text(REPORT)
        with worktree(args.previous, Path(folder) / "previous") as args.previous:
            results = [run(kind, args, script) for kind in args.backends.split(",")]

    print(f"\nlabgate-server against bench/minimal_app.py (FastAPI + SQLAlchemy, nothing else) on loopback, "
          f"{os.cpu_count()} CPUs shared with wrk ({args.threads} threads, {args.connections} connections, "
          f"{args.seconds:g} s per run, the median of {args.rounds} rounds); 200 people.\n"
          f"people: GET {PEOPLE} (labgate: signed in as an admin; minimal: no sign-in, the same page). "
          "person: GET /api/v1/people/{id}, one person with roles (the same way). "
          f"health: labgate's GET /health (database and schema revision checked) against the minimal GET /hello.\n")
    print("| database | processes | endpoint | labgate req/s | minimal req/s | ratio | ratio by round | server CPU "
          "µs/request (labgate / minimal) | CPU ratio | labgate ms p50 / p95 / p99 | minimal ms p50 / p95 / p99 | "
          "failed |" + (f" {revision} req/s | {revision} ms p50 / p95 / p99 |" if (revision := previous_name) else ""))
    print("|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if previous_name else ""))
    for rows, _ in results:
        for r in rows:
            print(f"| {r.backend} | {r.workers} | {r.endpoint} | {r.ours.cell()} | {r.floor.cell()} | "
                  f"{r.ours.rps / r.floor.rps:.2f}x | {' '.join(f'{x:.2f}' for x in r.ratios)} | "
                  f"{r.ours.cpu_us:,.0f} / {r.floor.cpu_us:,.0f} | "
                  f"{r.floor.cpu_us / r.ours.cpu_us:.2f}x | {r.ours.latency()} | {r.floor.latency()} | "
                  f"{r.ours.bad} / {r.floor.bad} |" + (f" {r.previous.cell()} | {r.previous.latency()} |"
                                                        if r.previous else ""))
    print("\n(CPU ratio: the minimal app's server CPU per request over labgate's; it moves less than req/s "
          "when other work shares the machine.)")
    print(f"\nevent ingest: {args.batches} batches of 500 events from one kiosk, one after the other, 1 process\n")
    print("| database | events/s | batch of 500, ms (median / p95) | server CPU ms per batch | events per "
          "server CPU second | exactly-once |")
    print("|---|---|---|---|---|---|")
    for (_, ingest), kind in zip(results, args.backends.split(","), strict=True):
        if ingest:
            print(f"| {kind} | {ingest.eps:,.0f} | {ingest.batch_ms[0]:.0f} / {ingest.batch_ms[1]:.0f} | "
                  f"{ingest.cpu_ms:.0f} | {500 / ingest.cpu_ms * 1000:,.0f} | {ingest.exactly_once} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
