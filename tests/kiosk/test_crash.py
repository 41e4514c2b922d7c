"""Acceptance 2: ``kill -9`` of the kiosk during a burst of 5,000 event writes, 20 times.

The child (``tests/kiosk/burst_child.py``) is the real kiosk with its camera, loop, QR, HTTP and
sync threads running on the demo door of real faces; the burst goes through the loop's own decision
step and the PIN fallback (presence -> store). What the kiosk reported as written is what its log
says: the ``event=decision ... seq=N`` lines, written after each commit. Kills land at random points
spread over the whole burst (round r in its own 1/20th of it), so many rounds run through several
WAL auto-checkpoints before the kill. Between rounds the store stays exactly as the killed kiosk left
it (database and WAL): the parent checks a copy, never the store itself, until the end.

After each kill: every reported seq is stored with the same person, outcome and method; seq runs
1..max without a hole (no committed event lost) and goes on after the last round's without reuse;
``PRAGMA integrity_check`` is ok.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from device.store import Store
from tests.kiosk.conftest import ROOT

pytestmark = pytest.mark.data

ROUNDS, WRITES = 20, 5000
DECISION = re.compile(r"event=decision outcome=(\w+) method=(\w+) person=(\S+) .*?seq=(\S+)")
PORT = re.compile(r"event=http_listening host=\S+ port=(\d+)")


def _config(tmp: Path, store: Path, model_dir: Path) -> Path:
    config = tmp / "config.toml"
    config.write_text(f"""
[models]
dir = "{model_dir}"
[detector]
min_face = 40
[camera]
kind = "demo"
fps = 8.0
[store]
path = "{store}"
[http]
enabled = true
port = 0
[sync]
enabled = true
""")
    return config


def _take(line: str, reported: dict[int, tuple[str, str, str]]) -> None:
    """Note a decision the kiosk logged as written: seq -> (person, outcome, method)."""
    match = DECISION.search(line)
    if match and match.group(4) != "-":
        outcome, method, person, seq = match.groups()
        assert int(seq) not in reported, f"seq {seq} reported twice"
        reported[int(seq)] = (person, outcome, method)


def _wal_restarts(wal: Path) -> int:
    """The WAL header's checkpoint sequence: it goes up each time a checkpoint let the WAL start over."""
    with wal.open("rb") as handle:
        header = handle.read(32)
    return int.from_bytes(header[12:16], "big") if len(header) == 32 else 0


def _snapshot(store: Path, into: Path) -> Path:
    """Copy the database and its WAL as the dead kiosk left them (the -shm index is rebuilt from the WAL)."""
    into.mkdir()
    for suffix in ("", "-wal"):
        if Path(f"{store}{suffix}").exists():
            shutil.copy2(f"{store}{suffix}", into / f"kiosk.db{suffix}")
    return into / "kiosk.db"


def _stored(copy: Path) -> tuple[str, dict[int, tuple[str, str, str, str]]]:
    conn = sqlite3.connect(copy)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute("SELECT seq, id, person, outcome, method FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return integrity, {seq: (id_, person or "-", outcome, method) for seq, id_, person, outcome, method in rows}


def test_kill_9_of_the_kiosk_during_a_burst_loses_nothing_reported(enrolled_db: Path, model_dir: Path,
                                                                    tmp_path: Path) -> None:
    store = tmp_path / "kiosk.db"
    shutil.copy(enrolled_db, store)
    config = _config(tmp_path, store, model_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)
    rng = random.Random(20240611)
    previous: dict[int, tuple[str, str, str, str]] = {}
    restarts_total, reported_total, checks_of_health = 0, 0, 0
    started = time.monotonic()
    for round_number in range(ROUNDS):
        stratum = WRITES // ROUNDS
        kill_after = rng.randint(round_number * stratum + 1, (round_number + 1) * stratum)
        wal = Path(f"{store}-wal")
        restarts_before = _wal_restarts(wal) if wal.exists() else 0
        child = subprocess.Popen([sys.executable, "-m", "tests.kiosk.burst_child", str(config), str(WRITES)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        assert child.stderr is not None
        reported: dict[int, tuple[str, str, str]] = {}
        log_tail: list[str] = []
        port, burst, killed = None, False, False

        for line in child.stderr:
            log_tail = [*log_tail[-30:], line]
            if not line.endswith("\n"):
                break  # cut mid-line by the kill: not a complete report
            _take(line, reported)
            if port is None and (found := PORT.search(line)):
                port = int(found.group(1))
            if "event=burst_started" in line:
                burst = True
                assert "loop=up" in line and "camera=up" in line and "http=up" in line and "sync=up" in line, line
            if burst and len(reported) >= kill_after // 2 and port is not None and checks_of_health == round_number:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
                assert all(health["threads"].values()), health["threads"]  # mid-burst: every thread alive
                checks_of_health += 1
            if burst and len(reported) >= kill_after:
                child.send_signal(signal.SIGKILL)  # mid-burst: the kiosk is still writing
                killed = True
                break
        assert killed, f"round {round_number}: the kiosk stopped before the kill:\n{''.join(log_tail)}"
        child.wait(30)
        assert child.returncode == -signal.SIGKILL
        for line in child.stderr.read().splitlines(keepends=True):  # written before the kill landed
            if line.endswith("\n"):
                _take(line, reported)
        child.stderr.close()

        copy = _snapshot(store, tmp_path / f"after-{round_number:02d}")
        restarts_total += _wal_restarts(Path(f"{copy}-wal")) - restarts_before
        integrity, stored = _stored(copy)
        assert integrity == "ok", f"round {round_number}: {integrity}"
        lost = {seq: what for seq, what in reported.items() if stored.get(seq, ("",))[1:] != what}
        assert not lost, f"round {round_number}: reported but not stored: {dict(list(lost.items())[:5])}"
        assert list(stored) == list(range(1, len(stored) + 1)), f"round {round_number}: a hole in seq"
        assert all(stored.get(seq) == row for seq, row in previous.items()), "an earlier event changed or vanished"
        new = sorted(reported)
        assert new and new[0] > max(previous, default=0), f"round {round_number}: seq reused after a restart"
        previous = stored
        reported_total += len(reported)
        shutil.rmtree(copy.parent)

    assert checks_of_health == ROUNDS
    # Bursts of several hundred writes and more ran through WAL auto-checkpoints (1000 pages).
    assert restarts_total >= ROUNDS // 2, f"only {restarts_total} WAL restarts: kills never crossed a checkpoint"
    final = Store(store)  # the real store, opened in place only now
    assert final.integrity() == "ok" and final.last_seq() == len(previous)
    final.close()
    print(f"\n{ROUNDS} kills, {reported_total} reported writes, {len(previous)} events stored, "
          f"{restarts_total} WAL restarts after checkpoints, {time.monotonic() - started:.0f} s")
