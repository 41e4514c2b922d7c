"""Acceptance 4: a camera that fails and comes back is reopened with backoff, the door says "camera
lost" meanwhile, and no thread dies. Frames that are not images are dropped, never passed on."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from device import config as device_config
from device.store import Store
from kiosk.camera import Camera, CameraStatus
from kiosk.door import View
from kiosk.frames import EndOfStream
from kiosk.kiosk import Kiosk
from kiosk.scene import SceneSource
from kiosk.sources import FolderSource
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
    config = device_config.load(ROOT / "config.toml")
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


class _HangingDriver:
    """Scripted hardware: a driver whose ``hang_at``-th read() never returns until the test releases it
    (a USB camera wedged in the kernel). What that read returns at last is a stale frame (all 255)."""

    live, fps = True, 60.0

    def __init__(self, hang_at: int | None) -> None:
        self.name = f"hanging-{id(self)}"
        self.hang_at = hang_at
        self.reads = self.opens = self.closes = 0
        self.stuck = threading.Event()
        self.release = threading.Event()

    def open(self) -> None:
        self.opens += 1

    def read(self) -> np.ndarray:
        time.sleep(1 / self.fps)
        self.reads += 1
        if self.reads == self.hang_at:
            self.stuck.set()
            self.release.wait(60)
            return np.full((48, 64, 3), 255, np.uint8)
        return np.full((48, 64, 3), 10, np.uint8)

    def close(self) -> None:
        self.closes += 1


@pytest.mark.parametrize("fresh_source", [False, True], ids=["same-source", "new-source"])
def test_a_read_that_never_returns_is_abandoned_and_the_camera_reopened(fresh_source: bool) -> None:
    hanging = _HangingDriver(hang_at=15)
    made: list[_HangingDriver] = []

    def reopen() -> _HangingDriver:
        made.append(_HangingDriver(hang_at=None))
        return made[-1]

    camera = Camera(hanging, frame_timeout_s=0.5, backoff_s=(0.05, 0.2), reopen=reopen if fresh_source else None)
    camera.start()
    seen: set[int] = set()
    try:
        assert hanging.stuck.wait(10), "the driver should hang on its 15th read"
        stuck_at = camera.delivered
        assert _wait(lambda: camera.status is CameraStatus.LOST, timeout=5)
        assert _wait(lambda: camera.hangs == 1, timeout=5), "the hung read should be given up on"
        assert "read() did not return" in camera.error
        # A new session: frames flow again while the first read is still stuck in the driver.
        assert _wait(lambda: camera.status is CameraStatus.OK and camera.delivered > stuck_at + 10, timeout=10)
        assert camera.alive and camera.reopens >= 1
        if fresh_source:
            assert len(made) == 1 and made[0].opens == 1 and camera.source is made[0]
            assert hanging.closes == 0, "not closed from another thread while a read is inside it"
        else:
            assert hanging.opens == 2 and hanging.closes == 1, "the same source is closed and opened again"
        # The stuck read returns at last: its frame is stale and never reaches the loop.
        hanging.release.set()
        if fresh_source:
            assert _wait(lambda: hanging.closes == 1), "its own reader closes the abandoned source"
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            frame = camera.latest()
            if frame is not None:
                seen.add(int(frame.rgb[0, 0, 0]))
            time.sleep(0.003)
        assert seen == {10}, seen
        assert camera.status is CameraStatus.OK and camera.hangs == 1
    finally:
        hanging.release.set()
        camera.stop()


def test_an_open_that_never_returns_is_given_up_too() -> None:
    class SlowOpen(_HangingDriver):
        def open(self) -> None:
            self.opens += 1
            if self.opens == 1:
                self.stuck.set()
                self.release.wait(60)

    source = SlowOpen(hang_at=None)
    camera = Camera(source, frame_timeout_s=0.3, open_timeout_s=0.5, backoff_s=(0.05, 0.2)).start()
    try:
        assert _wait(lambda: camera.hangs == 1, timeout=5) and "open() did not return" in camera.error
        assert _wait(lambda: camera.status is CameraStatus.OK and camera.delivered > 5, timeout=5)
    finally:
        source.release.set()
        camera.stop()
