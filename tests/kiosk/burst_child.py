"""The process tests/kiosk/test_crash.py kills: the real kiosk, plus a burst of event writes.

    python -m tests.kiosk.burst_child CONFIG WRITES

It builds ``Kiosk`` from CONFIG exactly as ``labgate-kiosk run --headless`` does and starts it: the
camera (the demo door of real faces), the recognition loop, the QR scanner, the HTTP endpoint and
sync all run. Once the loop has frames, WRITES decisions go through the loop's own decision step
(``Loop._on_verdict`` for accepts, ``Loop._unknown`` for strangers) and, now and then, the NIM + PIN
fallback: presence -> one store transaction -> the ``event=decision ... seq=N`` log line, written
only after the commit returned. Those lines, on stderr, are what the parent counts as reported.
After the burst it keeps running (it never closes the store cleanly): the parent kills it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from device import config as device_config
from device import logs
from device.logs import log
from kiosk.camera import Frame
from kiosk.demo import DEMO_PIN
from kiosk.kiosk import Kiosk
from kiosk.tracker import Track
from models.decision import Outcome
from models.detector import Face
from models.votes import Verdict, Vote

PIN_EVERY = 500  # a PIN entry (scrypt: slow on purpose) among the face decisions
UNKNOWN_EVERY = 7  # a stranger among the accepts


def main() -> int:
    config_path, writes = Path(sys.argv[1]), int(sys.argv[2])
    logs.setup("info")
    kiosk = Kiosk(device_config.load(config_path)).start()
    deadline = time.monotonic() + 120
    while kiosk.loop.frames < 3 or kiosk.camera.latest() is None:
        if time.monotonic() > deadline or not kiosk.loop.alive:
            log("burst_not_started", frames=kiosk.loop.frames)
            return 1
        time.sleep(0.05)
    pin_person = next(iter(kiosk.store.templates(kiosk.engine.model_id)))  # a demo person (PIN DEMO_PIN)
    log("burst_started", writes=writes, pid=os.getpid(), threads=",".join(
        f"{name}={'up' if up else 'down'}" for name, up in kiosk.threads().items()))
    loop = kiosk.loop
    box = np.array([260, 160, 360, 280], np.float32)
    for i in range(writes):
        latest = kiosk.camera.latest()
        assert latest is not None
        frame = Frame(latest.index, latest.rgb, time.monotonic(), time.time())
        track = Track(1_000_000 + i, Face(box, 0.99, np.zeros((5, 2), np.float32)), frame.t - 0.4,
                      frame.wall - 0.4, frame.t, Vote(3, 5))
        if i % PIN_EVERY == PIN_EVERY - 1:
            kiosk.fallback.pin(pin_person, DEMO_PIN)
        elif i % UNKNOWN_EVERY == 0:
            loop._unknown(track, frame, 0.12, 0.02, "vote")
        else:  # a new person each time: no cooldown holds the event back
            loop._on_verdict(track, Verdict(Outcome.ACCEPT, f"burst-{os.getpid()}-{i}", 0.81, 0.3), frame)
    log("burst_done", writes=writes)
    while True:  # the parent's SIGKILL ends this process; nothing is closed cleanly
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
