"""Acceptance 4: a camera that fails and comes back is reopened with backoff, the door says "camera
lost" meanwhile, and no thread dies. Frames that are not images are dropped, never passed on."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kiosk import config as kiosk_config
from kiosk.camera import Camera, CameraStatus
from kiosk.door import View
from kiosk.kiosk import Kiosk
from kiosk.scene import SceneSource
from kiosk.sources import EndOfStream, FolderSource
from kiosk.store import Store
from models.engine import FaceEngine
from tests.kiosk.conftest import ROOT, FlakySource, make_scene

pytestmark = pytest.mark.data


def _wait(condition, timeout: float = 15.0, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def test_a_camera_that_fails_and_comes_back_is_reopened(store_path: Path, kiosk_engine: FaceEngine,
                                                         walk_up_photos: dict[str, Path]) -> None:
    person = sorted(walk_up_photos)[1]
    scene = make_scene([("person", [(walk_up_photos[person], person)])], tail=30.0)
    source = FlakySource(SceneSource(scene, loop=True), fps=15.0)
    config = kiosk_config.load(ROOT / "config.toml")
    config = replace(config, camera=replace(config.camera, frame_timeout_s=1.0, backoff_s=(0.2, 0.8)),
                     http=replace(config.http, enabled=False))
    kiosk = Kiosk(config, source=source, engine=kiosk_engine, store=Store(store_path)).start()
    seen: set[View] = set()
    try:
        assert _wait(lambda: kiosk.loop.frames > 10), "the loop should be running"
        # Frames that are not images: dropped and counted, the loop goes on.
        source.bad += [None, np.zeros((480, 640, 3), np.float32), np.zeros((0, 0, 3), np.uint8), "garbage",
                       np.zeros((4, 4, 3), np.uint8)]
        assert _wait(lambda: kiosk.camera.bad_frames >= 4)
        frames_before = kiosk.loop.frames
        source.failing.set()
        assert _wait(lambda: (seen.add(kiosk.door.snapshot().view) or View.CAMERA_LOST in seen)), \
            "the door should say camera lost"
        assert kiosk.camera.status is CameraStatus.LOST
        assert _wait(lambda: source.opens >= 3), "the camera should be reopened again and again (backoff)"
        assert all(kiosk.threads().values()), kiosk.threads()
        source.failing.clear()
        assert _wait(lambda: kiosk.camera.status is CameraStatus.OK and kiosk.loop.frames > frames_before + 10)
        assert _wait(lambda: kiosk.door.snapshot().view is not View.CAMERA_LOST)
        assert kiosk.camera.reopens >= 2
        assert all(kiosk.threads().values()), kiosk.threads()
        assert kiosk.metrics.frame_errors._value.get() == 0
    finally:
        kiosk.stop()


def test_backoff_grows_and_starts_again_after_frames(tmp_path: Path) -> None:
    class Broken:
        live, fps, name = True, 10.0, "broken"

        def __init__(self) -> None:
            self.opens: list[float] = []

        def open(self) -> None:
            self.opens.append(time.monotonic())
            raise OSError("no such device")

        def read(self) -> np.ndarray | None:
            raise AssertionError("never opened")

        def close(self) -> None:
            pass

    source = Broken()
    camera = Camera(source, frame_timeout_s=0.5, backoff_s=(0.05, 0.4)).start()
    try:
        assert _wait(lambda: len(source.opens) >= 6, timeout=5)
        gaps = np.diff(source.opens)
        assert gaps[0] < 0.15 and max(gaps) < 0.6 and gaps[4] > gaps[0] * 3, gaps
        assert camera.status is CameraStatus.LOST and "no such device" in camera.error
        assert camera.alive
    finally:
        camera.stop()


def test_a_finite_source_ends_and_lockstep_passes_every_frame(tmp_path: Path) -> None:
    import cv2

    for i in range(7):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((48, 64, 3), i * 30, np.uint8))
    (tmp_path / "08.png").write_bytes(b"not a png")  # skipped with a log line
    camera = Camera(FolderSource(tmp_path, fps=30.0, loop=False), pace="lockstep").start()
    got = []
    last = 0
    while True:
        frame = camera.next(last, timeout=2.0)
        if frame is None:
            break
        last = frame.index
        got.append(int(frame.rgb[0, 0, 0]))
    assert got == [i * 30 for i in range(7)]
    assert camera.status is CameraStatus.ENDED
    with pytest.raises(EndOfStream):
        FolderSource(tmp_path, 30.0, loop=False).read()  # never opened: nothing to read
