"""Sync on loopback: a kiosk offline for a week (100,000 events) drains to a real `labgate-server run`,
on SQLite and on PostgreSQL; and the kiosk's recognition loop frame rate while it drains.

    .venv/bin/python bench/sync.py [--events 100000] [--batch-size 1000] [--backends sqlite,postgresql]
                                   [--loop-s 20] [--postgres postgresql://root@127.0.0.1:5432/test]

For each database:
1. drain alone: `labgate-sync once` (its own process, as labgate-sync.service runs it) pushes the
   backlog; time from start to an empty outbox, and events per second;
2. drain inside the kiosk: the same backlog (a second device) drained by the kiosk's sync thread
   while the recognition loop runs the demo door video in lockstep (every frame through the loop,
   as fast as it goes), against the loop's frame rate over ``--loop-s`` seconds with no drain.
   Needs the shared face data (LABGATE_DATA) and the built models; skipped without them.

Server, kiosk and this script share the machine's cores, so the numbers are a floor. Prints a table;
never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import PASSWORD, scratch_database, seed, start  # noqa: E402
from kiosk import config as kiosk_config  # noqa: E402
from kiosk.events import new_event  # noqa: E402
from kiosk.store import Store  # noqa: E402
from sync.config import SyncConfig  # noqa: E402
from sync.credentials import Credentials  # noqa: E402
from sync.service import provision  # noqa: E402

WEEK_S = 7 * 24 * 3600


@dataclass
class Drain:
    seconds: float
    events: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@dataclass
class Row:
    backend: str
    alone: Drain
    in_kiosk: Drain | None = None
    fps_idle: float | None = None
    fps_draining: float | None = None


def backlog(path: Path, count: int, model_id: str) -> Store:
    """A kiosk store holding ``count`` events spread over the last week, none synced."""
    store = Store(path)
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
    return store


def register(base: str, admin: dict[str, str], name: str, model_id: str) -> Credentials:
    body = httpx.post(f"{base}/api/v1/devices", json={"name": name, "room": "LAB-1", "model_id": model_id},
                      headers=admin, timeout=30).json()
    return Credentials(base, body["device"]["id"], body["token"])


def sync_toml(path: Path, store_path: Path, batch_size: int) -> Path:
    path.write_text(f'[store]\npath = "{store_path}"\n\n[sync]\nbatch_size = {batch_size}\ninterval_s = 0.5\n'
                    "pull_interval_s = 30.0\ntimeout_s = 60.0\nbackoff_s = [0.2, 5.0]\n")
    return path


def drain_alone(base: str, admin: dict[str, str], folder: Path, events: int, batch_size: int) -> Drain:
    store = backlog(folder / "alone.db", events, "bench-model")
    provision(store, SyncConfig(), register(base, admin, "bench alone", "bench-model"), "bench")
    config = sync_toml(folder / "alone.toml", store.path, batch_size)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sync.cli", "once", "--config", str(config), "--log-level",
                           "warning"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or store.outbox_size():
        raise RuntimeError(f"labgate-sync once failed ({done.returncode}): {done.stdout} {done.stderr[-500:]}")
    return Drain(seconds, events)


def drain_in_kiosk(base: str, admin: dict[str, str], folder: Path, events: int, batch_size: int,
                   loop_s: float) -> tuple[Drain, float, float] | None:
    from kiosk.demo import enrol_demo
    from kiosk.kiosk import Kiosk
    from kiosk.logs import setup
    from kiosk.scene import SceneSource, demo_scene
    from models import catalog
    from models.engine import FaceEngine

    data = catalog.data_dir()
    if data is None or not catalog.read_index(catalog.model_dir()).get("default_embedder"):
        print("skipping the kiosk part: needs $LABGATE_DATA and built models", file=sys.stderr)
        return None
    setup("warning")
    config = kiosk_config.load(ROOT / "config.toml")
    engine = FaceEngine(config.engine)
    scene = demo_scene(data, fps=15.0)

    def kiosk(store: Store, sync_enabled: bool) -> Kiosk:
        toml = sync_toml(folder / "kiosk.toml", store.path, batch_size)
        if not sync_enabled:
            toml.write_text(toml.read_text() + "enabled = false\n")
        settings = replace(config, path=toml, http=replace(config.http, enabled=False),
                           camera=replace(config.camera, pace="lockstep", fps=scene.fps))
        return Kiosk(settings, source=SceneSource(scene, loop=True), engine=engine, store=store)

    idle_store = Store(folder / "idle.db")
    enrol_demo(idle_store, engine, data)
    idle = kiosk(idle_store, sync_enabled=False).start()
    time.sleep(2.0)  # warm up
    frames, started = idle.loop.frames, time.perf_counter()
    time.sleep(loop_s)
    fps_idle = (idle.loop.frames - frames) / (time.perf_counter() - started)
    idle.stop()

    store = backlog(folder / "kiosk.db", events, engine.model_id)
    enrol_demo(store, engine, data)
    running = kiosk(store, sync_enabled=True).start()  # its sync thread waits for credentials
    time.sleep(2.0)  # the loop warms up
    assert running.sync is not None
    frames, started = running.loop.frames, time.perf_counter()
    provision(store, SyncConfig(), register(base, admin, "bench kiosk", engine.model_id), "bench")
    running.sync.wake()
    while store.outbox_size():
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    fps_draining = (running.loop.frames - frames) / seconds
    running.stop()
    return Drain(seconds, events), fps_idle, fps_draining


def run(kind: str, args: argparse.Namespace) -> Row:
    url, cleanup = scratch_database(kind, args.postgres)
    try:
        seed(url, 200)
        process, base = start(url, 1)
        try:
            tokens = httpx.post(f"{base}/api/v1/auth/login", json={"number": "1970000001", "password": PASSWORD},
                                timeout=30).json()
            admin = {"Authorization": f"Bearer {tokens['access_token']}"}
            with tempfile.TemporaryDirectory() as scratch:
                folder = Path(scratch)
                row = Row(kind, drain_alone(base, admin, folder, args.events, args.batch_size))
                print(f"{kind}: drained {args.events} events alone in {row.alone.seconds:.1f} s", file=sys.stderr)
                if not args.no_kiosk:
                    found = drain_in_kiosk(base, admin, folder, args.events, args.batch_size, args.loop_s)
                    if found is not None:
                        row.in_kiosk, row.fps_idle, row.fps_draining = found
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        cleanup()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="the backlog: a week offline")
    parser.add_argument("--batch-size", type=int, default=1000, help="[sync] batch_size")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--loop-s", type=float, default=20.0, help="seconds of the loop's idle frame rate")
    parser.add_argument("--no-kiosk", action="store_true", help="only the drain alone")
    parser.add_argument("--postgres", default=os.environ.get("LABGATE_TEST_POSTGRES",
                                                             "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    rows = [run(kind, args) for kind in args.backends.split(",")]
    print(f"\nsync on loopback: a week offline = {args.events:,} events, batches of {args.batch_size}; one "
          f"labgate-server worker; {os.cpu_count()} cores shared by server, kiosk and sync (a floor)\n")
    print("| database | drain alone: s | events/s | drain in the kiosk: s | events/s | loop fps idle | "
          "loop fps while draining |")
    print("|---|---|---|---|---|---|---|")

    def cell(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for r in rows:
        print(f"| {r.backend} | {r.alone.seconds:.1f} | {r.alone.per_second:,.0f} | "
              f"{cell(r.in_kiosk.seconds if r.in_kiosk else None, '.1f')} | "
              f"{cell(r.in_kiosk.per_second if r.in_kiosk else None, ',.0f')} | {cell(r.fps_idle, '.1f')} | "
              f"{cell(r.fps_draining, '.1f')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
