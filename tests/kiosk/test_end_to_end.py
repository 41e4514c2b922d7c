"""Acceptance 1: a composed video (real photos) of enrolled people walking up one by one, strangers,
and two people coming together, through the real `labgate-kiosk` process: exactly one ACCEPT event
per walk-up of an enrolled person with the right identity, no identity for any stranger, and the
events still there after a restart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from device.store import Store
from tests.kiosk.conftest import ROOT, make_scene

pytestmark = pytest.mark.data

DECISION = re.compile(r"event=decision outcome=(\w+) method=face person=(\S+) .*?seq=(\S+) .*?frame=(\d+)")


def _config(tmp: Path, store: Path, video: Path, cooldown: float) -> Path:
    config = tmp / "config.toml"
    config.write_text(f"""
[models]
dir = "{ROOT / 'artifacts' / 'models'}"
[detector]
min_face = 40
[camera]
kind = "file"
source = "{video}"
pace = "lockstep"
loop = false
[kiosk]
cooldown_s = {cooldown}
[store]
path = "{store}"
[http]
enabled = false
[liveness]
enabled = false  # the walk-ups are photos composed on a wall; tests/kiosk/test_liveness.py covers liveness
""")
    return config


def _run(config: Path, *extra: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABGATE_CONFIG": str(config)}
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "kiosk.cli", "run", "--headless", "--exit-at-end", *extra],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_walk_ups_give_one_accept_each_and_strangers_none(store_path: Path, tmp_path: Path,
                                                          walk_up_photos: dict[str, Path],
                                                          strangers: list[Path]) -> None:
    names = sorted(walk_up_photos)
    assert len(names) >= 8, "too few people with a usable walk-up photo"
    a, b, c, d, e, f = names[0], names[3], names[6], names[9], names[12], names[15 % len(names)]
    plan: list[tuple[str, list[tuple[Path, str | None]]]] = [
        ("person", [(walk_up_photos[a], a)]),
        ("stranger", [(strangers[0], None)]),
        ("person", [(walk_up_photos[b], b)]),
        ("person", [(walk_up_photos[c], c)]),
        ("stranger", [(strangers[1], None)]),
        ("pair", [(walk_up_photos[e], e), (walk_up_photos[f], f)]),
        ("person", [(walk_up_photos[d], d)]),
        ("stranger", [(strangers[2], None)]),
        ("person", [(walk_up_photos[a], a)]),  # again, after the cooldown: a new walk-up, a new event
    ]
    scene = make_scene(plan)
    video = scene.write_video(tmp_path / "door.avi")
    cooldown = 8.0
    assert scene.walkups[-1].start - scene.walkups[0].end > cooldown
    result = _run(_config(tmp_path, store_path, video, cooldown))
    assert result.returncode == 0, result.stderr[-3000:]

    accepts: list[tuple[str, int, int]] = []  # (person, seq, frame) of accept events written
    for outcome, person, seq, frame in DECISION.findall(result.stderr):
        if outcome == "accept" and seq != "-":
            accepts.append((person, int(seq), int(frame)))
    # Attribute each event to the walk-up in view at its frame (frame n is the scene's frame n-1).
    per_walk_up: list[list[str]] = [[] for _ in scene.walkups]
    for person, _seq, frame in accepts:
        t = (frame - 1) / scene.fps
        hits = [i for i, w in enumerate(scene.walkups) if w.start <= t <= w.end + 0.5]
        assert len(hits) == 1, f"event for {person} at {t:.1f} s is outside every walk-up"
        per_walk_up[hits[0]].append(person)
    for walk_up, got in zip(scene.walkups, per_walk_up, strict=True):
        if walk_up.kind == "stranger":
            assert got == [], f"a stranger at {walk_up.start:.1f} s was logged as {got}"
        else:
            assert sorted(got) == sorted(w for w in walk_up.who if w), \
                f"walk-up of {walk_up.who} at {walk_up.start:.1f} s gave accept events {got}"
    assert "one_at_a_time" in result.stderr, "two people together should be asked to come one at a time"

    store = Store(store_path)
    stored = store.events_after(0)
    assert sorted((e.person or "", e.seq or 0) for e in stored if e.outcome == "accept") == \
        sorted((p, s) for p, s, _ in accepts)
    assert all(e.person is None for e in stored if e.outcome == "unknown")
    assert all(e.method == "face" and e.model_id and e.captured_at.endswith("Z") for e in stored)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    before = [e.contract() for e in stored]
    store.close()

    # A restart: a new process opens the same store, runs, and every event is still there; seq goes on.
    folder = tmp_path / "empty_door"
    folder.mkdir()
    cv2.imwrite(str(folder / "wall.png"), scene.frame(0)[:, :, ::-1])
    again = _run(_config(tmp_path, store_path, video, cooldown), "--camera", "folder", "--source", str(folder))
    assert again.returncode == 0, again.stderr[-2000:]
    store = Store(store_path)
    assert [e.contract() for e in store.events_after(0)][:len(before)] == before
    assert store.integrity() == "ok"
    store.close()
