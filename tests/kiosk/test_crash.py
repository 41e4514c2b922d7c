"""Acceptance 2: kill -9 of a kiosk process during a burst of 5,000 event writes, 20 times. Every
event the process reported as written (it prints the seq after the commit) is in the database, the
sequence goes on without reuse, and PRAGMA integrity_check is ok."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from kiosk.store import Store
from tests.kiosk.conftest import ROOT

# The writer goes through the same path as the recognition loop and the fallback (Presence -> Store),
# and reports like the loop's decision log: after the commit returned.
WRITER = """
import sys, time
from kiosk.door import Door
from kiosk.metrics import Metrics
from kiosk.presence import Presence
from kiosk.store import Store
store = Store(sys.argv[1])
presence = Presence(store, Door(), Metrics(), cooldown_s=60.0)
out = sys.stdout
print("ready", flush=True)
for i in range(5000):
    if i % 3 == 0:
        event = presence.unknown_face(time.time(), 0.2, 0.01, "facenet-test")
    elif i % 3 == 1:
        event = presence.accept_fallback(f"22{i:08d}", "pin").event
    else:
        event = presence.accept_face(f"21{i:08d}", float(i), time.time(), 0.8, 0.3, "facenet-test").event
    out.write(f"{event.seq} {event.id}\\n")
    out.flush()
print("done", flush=True)
"""


def test_kill_9_during_a_burst_loses_nothing_reported(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.db"
    Store(path).close()
    rng = random.Random(1234)
    reported: dict[int, str] = {}
    last_max = 0
    for round_number in range(20):
        kill_after = rng.randint(5, 150)
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                                   cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        for count, line in enumerate(process.stdout, start=1):
            if not line.endswith("\n"):
                break  # cut mid-line by the kill: not a complete report
            seq, event_id = line.split()
            reported[int(seq)] = event_id
            if count >= kill_after:
                process.send_signal(signal.SIGKILL)  # mid-burst: the writer is still writing
                break
        process.wait(10)
        assert process.returncode == -signal.SIGKILL, f"round {round_number}: the writer ended on its own"
        rest = process.stdout.read()  # lines written between our read and the kill
        for line in rest.splitlines(keepends=True):
            if line.endswith("\n") and line.strip() and line.split()[0].isdigit():
                seq, event_id = line.split()
                reported[int(seq)] = event_id
        process.stdout.close()

        store = Store(path)
        assert store.integrity() == "ok", f"round {round_number}"
        stored = {e.seq: e.id for e in store.events_after(0, limit=100_000)}
        missing = {seq for seq in reported if stored.get(seq) != reported[seq]}
        assert not missing, f"round {round_number}: reported but not stored: {sorted(missing)[:10]}"
        this_round = [seq for seq in stored if seq > last_max]
        assert this_round and min(this_round) == last_max + 1, "seq must continue where the last run stopped"
        last_max = max(stored)
        store.close()
    assert len(reported) >= 20 * 5
