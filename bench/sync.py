"""Sync on loopback: a kiosk offline for a week (100,000 events) drains to a real `labgate-server run`,
on SQLite and on PostgreSQL; and the kiosk's recognition loop frame rate while it drains.

    .venv/bin/python bench/sync.py [--events 100000] [--repeat 3] [--batch-size 1000] [--backends sqlite,postgresql]
                                   [--loop-s 20] [--no-kiosk] [--postgres postgresql://root@127.0.0.1:5432/test]

For each database, three things are timed apart, so the drain is the drain:
1. start-up: a `labgate-sync` process's start until it can work (imports, config, store), the median
   of 3 runs of `labgate-sync status`;
2. activation + first feed: a `labgate-sync run` process (as labgate-sync.service runs it) from its
   first log line to its first full changes-feed pull done (the provisioning code exchanged, the
   server's 200 people applied);
3. drain: with that process running and idle, the backlog is committed to the store in one
   transaction (as if the network came back after a week) and timed until the outbox is empty;
   repeated ``--repeat`` times (a new backlog each time), the median reported, and the median and p95
   of the push requests (from sync's own log).
Then the same inside the kiosk (needs $LABGATE_DATA and the built models, skipped without them): the
recognition loop runs the demo door in lockstep (every frame through the loop, as fast as it goes);
its frame rate in 1-second windows, median, with the sync thread idle and while the sync thread
drains the backlog.

Server, kiosk and this script share the machine's cores, so the numbers are a floor. Prints a table;
never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchdb import PASSWORD, percentile, scratch_database, seed, start  # noqa: E402
from device import config as device_config  # noqa: E402
from device.events import new_event  # noqa: E402
from device.store import Store  # noqa: E402
from sync import credentials as creds  # noqa: E402
from sync.config import SyncConfig  # noqa: E402
from sync.credentials import Credentials  # noqa: E402
from sync.provisioning import provision  # noqa: E402

WEEK_S = 7 * 24 * 3600
PUSHED = re.compile(r"^ts=(\S+) .*event=sync_pushed .*\bms=(\d+)")


@dataclass
class Row:
    backend: str
    startup_s: float
    ready_s: float
    drains: list[float]
    events: int
    batch_ms: tuple[float, float]  # median, p95
    kiosk_drains: list[float] = field(default_factory=list)
    fps_idle: float | None = None
    fps_draining: float | None = None

    @staticmethod
    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None


def backlog(store: Store, count: int, model_id: str) -> float:
    """Commit ``count`` events spread over the last week, none synced, in one transaction; returns
    the time of the commit (perf_counter)."""
    start = time.time() - WEEK_S
    step = WEEK_S / count
    events = []
    for i in range(count):
        at = start + i * step
        if i % 3 == 2:
            events.append(new_event(None, "unknown", "face", at, score=0.2, margin=0.01, model_id=model_id))
        elif i % 5 == 0:
            events.append(new_event(f"22010{i % 200:05d}", "accept", "pin", at))
        else:
            events.append(new_event(f"22010{i % 200:05d}", "accept", "face", at, score=0.73, margin=0.21,
                                    model_id=model_id))
    with store.writing() as db:
        db.conn.executemany(
            "INSERT INTO events (id, person, outcome, method, score, margin, model_id, captured_at, clock_suspect)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.id, e.person, e.outcome, e.method, e.score, e.margin, e.model_id, e.captured_at,
              int(e.clock_suspect)) for e in events])
    return time.perf_counter()


def register(base: str, admin: dict[str, str], name: str, model_id: str) -> Credentials:
    """A new device's provisioning code, as the kiosk keeps it before the exchange."""
    body = httpx.post(f"{base}/api/v1/devices", json={"name": name, "room": "LAB-1", "model_id": model_id},
                      headers=admin, timeout=30).json()
    return creds.check(base, body["device"]["id"], body["provisioning_token"])


def sync_toml(path: Path, store_path: Path, batch_size: int) -> Path:
    path.write_text(f'[store]\npath = "{store_path}"\n\n[sync]\nbatch_size = {batch_size}\ninterval_s = 0.1\n'
                    "pull_interval_s = 30.0\ntimeout_s = 60.0\nbackoff_s = [0.2, 5.0]\n")
    return path


def wait(condition: Callable[[], bool], what: str, timeout: float = 3600.0, step: float = 0.01) -> float:
    """Poll until ``condition``; returns the perf_counter time it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(step)
    return time.perf_counter()


def startup(config: Path) -> float:
    """Median wall time of `labgate-sync status`: a sync process's start before any request."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sync.cli", "status", "--config", str(config)], cwd=ROOT,
                       capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def drain_alone(base: str, admin: dict[str, str], folder: Path, args: argparse.Namespace) -> Row:
    store = Store(folder / "alone.db")
    provision(store, SyncConfig(), register(base, admin, "bench alone", "bench-model"), "bench")
    config = sync_toml(folder / "alone.toml", store.path, args.batch_size)
    log_path = folder / "alone.log"
    startup_s = startup(config)
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "sync.cli", "run", "--config", str(config), "--log-level",
                                    "info"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        try:
            ready = wait(lambda: bool(store.sync_value("cursor")), "the first feed pull")
            ready_wall = time.time() - (time.perf_counter() - ready)
            first_line = _stamp(log_path.read_text().splitlines()[0])
            drains = []
            for _ in range(args.repeat):
                committed = backlog(store, args.events, "bench-model")
                drains.append(wait(lambda: store.outbox_size() == 0, "the outbox to drain") - committed)
        finally:
            process.terminate()
            process.wait(timeout=60)
    batches = [float(m[2]) for line in log_path.read_text().splitlines() if (m := PUSHED.match(line))]
    return Row(args.backend, startup_s, ready_wall - first_line, drains, args.events,
               (statistics.median(batches), percentile(batches, 0.95)))


def _stamp(line: str) -> float:
    found = re.match(r"^ts=(\S+)", line)
    if not found:
        raise RuntimeError(f"labgate-sync's log starts with {line[:80]!r}, not ts=...")
    return datetime.fromisoformat(found[1].replace("Z", "+00:00")).timestamp()


def drain_in_kiosk(base: str, admin: dict[str, str], folder: Path, args: argparse.Namespace, row: Row) -> None:
    from device.logs import setup
    from kiosk.demo import enrol_demo
    from kiosk.kiosk import Kiosk
    from kiosk.scene import SceneSource, demo_scene
    from models import catalog
    from models.engine import FaceEngine

    data = catalog.data_dir()
    if data is None or not catalog.read_index(catalog.model_dir()).get("default_embedder"):
        print("skipping the kiosk part: needs $LABGATE_DATA and built models", file=sys.stderr)
        return
    setup("warning")
    config = device_config.load(ROOT / "config.toml")
    engine = FaceEngine(config.engine)
    scene = demo_scene(data, fps=15.0)
    store = Store(folder / "kiosk.db")
    enrol_demo(store, engine, data)
    settings = replace(config, path=sync_toml(folder / "kiosk.toml", store.path, args.batch_size),
                       http=replace(config.http, enabled=False),
                       camera=replace(config.camera, pace="lockstep", fps=scene.fps))
    kiosk = Kiosk(settings, source=SceneSource(scene, loop=True), engine=engine, store=store).start()
    try:
        time.sleep(2.0)  # the loop warms up
        row.fps_idle = statistics.median(_fps_windows(kiosk, lambda: False, args.loop_s))
        provision(store, SyncConfig(), register(base, admin, "bench kiosk", engine.model_id), "bench")
        assert kiosk.sync is not None
        kiosk.sync.wake()
        wait(lambda: bool(store.sync_value("cursor")), "the kiosk's first feed pull")
        windows: list[float] = []
        for _ in range(args.repeat):
            seconds, measured = _drain_watched(kiosk, store, args.events, engine.model_id)
            row.kiosk_drains.append(seconds)
            windows += measured
        row.fps_draining = statistics.median(windows) if windows else None
    finally:
        kiosk.stop()


def _drain_watched(kiosk: Any, store: Store, events: int, model_id: str) -> tuple[float, list[float]]:
    """Commit a backlog, wake the kiosk's sync; (seconds to an empty outbox, the loop's fps windows meanwhile)."""
    drained: list[float] = []
    watcher = threading.Thread(target=lambda: drained.append(wait(lambda: store.outbox_size() == 0,
                                                                  "the kiosk's outbox to drain")))
    committed = backlog(store, events, model_id)
    watcher.start()
    kiosk.sync.wake()
    windows = _fps_windows(kiosk, lambda: bool(drained), 24 * 3600.0)
    watcher.join()
    return drained[0] - committed, windows


def _fps_windows(kiosk: Any, done: Callable[[], bool], longest_s: float) -> list[float]:
    """The loop's frames per second in 1-second windows, until ``done`` or ``longest_s``."""
    windows = []
    ends = time.perf_counter() + longest_s
    while time.perf_counter() < ends and not done():
        frames, started = kiosk.loop.frames, time.perf_counter()
        time.sleep(1.0)
        windows.append((kiosk.loop.frames - frames) / (time.perf_counter() - started))
    return windows


def run(kind: str, args: argparse.Namespace) -> Row:
    url, cleanup = scratch_database(kind, args.postgres)
    args.backend = kind
    try:
        seed(url, 200)
        process, base = start(url, 1)
        try:
            tokens = httpx.post(f"{base}/api/v1/auth/login", json={"number": "1970000001", "password": PASSWORD},
                                timeout=30).json()
            admin = {"Authorization": f"Bearer {tokens['access_token']}"}
            with tempfile.TemporaryDirectory() as scratch:
                folder = Path(scratch)
                row = drain_alone(base, admin, folder, args)
                print(f"{kind}: drained {args.events} events alone, median of {args.repeat}: "
                      f"{statistics.median(row.drains):.1f} s", file=sys.stderr)
                if not args.no_kiosk:
                    drain_in_kiosk(base, admin, folder, args, row)
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        cleanup()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="the backlog: a week offline")
    parser.add_argument("--repeat", type=int, default=3, help="drains per measurement (the median is shown)")
    parser.add_argument("--batch-size", type=int, default=1000, help="[sync] batch_size")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--loop-s", type=float, default=20.0, help="seconds of the loop's idle frame rate")
    parser.add_argument("--no-kiosk", action="store_true", help="only the drain by labgate-sync")
    parser.add_argument("--postgres", default=os.environ.get("LABGATE_TEST_POSTGRES",
                                                             "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    rows = [run(kind, args) for kind in args.backends.split(",")]
    print(f"\nsync on loopback: a week offline = {args.events:,} events, batches of {args.batch_size}, medians of "
          f"{args.repeat} drains; one labgate-server worker; {os.cpu_count()} cores shared by server, kiosk and "
          "sync (a floor)\n")
    print("| database | sync start-up s | activation + first feed s | drain alone s | events/s | push ms median / p95 "
          "| drain in the kiosk s | events/s | loop fps idle | loop fps while draining |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def cell(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for r in rows:
        alone, inside = Row.median(r.drains), Row.median(r.kiosk_drains)
        print(f"| {r.backend} | {r.startup_s:.2f} | {r.ready_s:.2f} | {cell(alone, '.1f')} | "
              f"{cell(r.events / alone if alone else None, ',.0f')} | {r.batch_ms[0]:.0f} / {r.batch_ms[1]:.0f} | "
              f"{cell(inside, '.1f')} | {cell(r.events / inside if inside else None, ',.0f')} | "
              f"{cell(r.fps_idle, '.1f')} | {cell(r.fps_draining, '.1f')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
