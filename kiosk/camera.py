"""The camera thread: reads a frame source without pause and keeps only the newest frame.

The recognition loop always takes the latest frame, so a slow frame never makes a growing lag. A
source that raises, or gives no frame for ``frame_timeout_s``, is closed and reopened with
exponential backoff; meanwhile ``status`` is LOST and the screen says so. Frames that are not
images (wrong shape or type) are dropped and counted, never passed on.

``pace``: "realtime" plays files, folders and scenes at their frame rate (frames are dropped when the
loop is slower, as with a real camera); "lockstep" hands every frame to the loop and waits for it
(tests and accelerated benchmarks: the frame clock ``Frame.t`` is then the video's own time).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from kiosk.logs import log
from kiosk.sources import EndOfStream, FrameSource, to_rgb


@dataclass(frozen=True)
class Frame:
    index: int  # frames delivered since start, from 1
    rgb: np.ndarray  # RGB uint8 (H, W, 3)
    t: float  # the loop's clock in seconds: monotonic, or the video's time in lockstep
    wall: float  # Unix time of capture (the event's captured_at)


class CameraStatus(StrEnum):
    STARTING = "starting"
    OK = "ok"
    LOST = "lost"
    ENDED = "ended"  # a finite source reached its end


class Camera:
    def __init__(self, source: FrameSource, *, pace: str = "realtime", frame_timeout_s: float = 3.0,
                 backoff_s: tuple[float, float] = (0.5, 10.0)) -> None:
        self.source = source
        self.pace = pace
        self.frame_timeout_s = frame_timeout_s
        self.backoff_s = backoff_s
        self.reopens = 0
        self.bad_frames = 0
        self.error = ""
        self._state = CameraStatus.STARTING
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._taken = True
        self._count = 0
        self._stamps: deque[float] = deque(maxlen=30)
        self._last_good = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._t0 = time.monotonic()

    # -- what the loop and the screen see ----------------------------------------------------------
    @property
    def status(self) -> CameraStatus:
        """LOST also when the source hangs inside a read (no frame for frame_timeout_s)."""
        state = self._state
        waiting_for_loop = self.pace == "lockstep" and not self._taken
        silent = time.monotonic() - self._last_good > self.frame_timeout_s
        if state is CameraStatus.OK and not waiting_for_loop and silent:
            return CameraStatus.LOST
        return state

    @property
    def fps(self) -> float:
        stamps = list(self._stamps)
        if len(stamps) < 2 or time.monotonic() - stamps[-1] > self.frame_timeout_s:
            return 0.0
        return (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-6)

    @property
    def delivered(self) -> int:
        """Frames handed to the loop since start."""
        return self._count

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> Camera:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def next(self, after: int, timeout: float = 0.5) -> Frame | None:
        """The newest frame with an index above ``after``; None if none came within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._latest.index <= after:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set() or self._state is CameraStatus.ENDED:
                    return None
                self._cond.wait(left)
            self._taken = True
            self._cond.notify_all()
            return self._latest

    def latest(self) -> Frame | None:
        """The newest frame without taking it (the screen's preview and the QR scanner)."""
        return self._latest

    # -- the thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = self.backoff_s[0]
        first = True
        while not self._stop.is_set():
            if not first:
                self.reopens += 1
                log("camera_reopen", source=self.source.name, attempt=self.reopens)
            first = False
            try:
                self.source.open()
            except Exception as exc:  # a driver can raise anything; the thread must live on
                self._lost(f"open failed: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_s[1])
                continue
            self._last_good = time.monotonic()
            try:
                ended = self._read_until_failure()
            finally:
                try:
                    self.source.close()
                except Exception as exc:
                    log("camera_close_failed", source=self.source.name, error=str(exc))
            if ended:
                self._set_state(CameraStatus.ENDED)
                log("camera_ended", source=self.source.name, frames=self._count)
                return
            if self._state is CameraStatus.OK:  # it worked for a while: start the backoff again
                backoff = self.backoff_s[0]
            if not self._stop.is_set():
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_s[1])

    def _read_until_failure(self) -> bool:
        """Read frames until the source fails (False) or ends (True) or we are stopped (False)."""
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                raw = self.source.read()
            except EndOfStream:
                return True
            except Exception as exc:
                self._lost(str(exc))
                return False
            frame = self._valid(raw)
            if frame is None:
                if time.monotonic() - self._last_good > self.frame_timeout_s:
                    self._lost(f"no frame for {self.frame_timeout_s:g} s")
                    return False
                if raw is None:
                    self._stop.wait(0.005)
                continue
            if not self.source.live and self.pace == "realtime":
                due += 1.0 / self.source.fps
                wait = due - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                elif wait < -1.0 / self.source.fps:  # behind: do not burst to catch up
                    due = time.monotonic()
            self._publish(frame)
        return False

    def _valid(self, raw: object) -> np.ndarray | None:
        if raw is None:
            return None
        if isinstance(raw, np.ndarray) and raw.dtype == np.uint8 and raw.size and (
                raw.ndim == 2 or (raw.ndim == 3 and raw.shape[2] in (3, 4))) and min(raw.shape[:2]) >= 16:
            return np.ascontiguousarray(to_rgb(raw, "RGB"))
        self.bad_frames += 1
        if self.bad_frames in (1, 10, 100) or self.bad_frames % 1000 == 0:
            shape = getattr(raw, "shape", None)
            log("frame_dropped", source=self.source.name, reason="not an image", type=type(raw).__name__,
                dtype=str(getattr(raw, "dtype", "-")), shape=shape, count=self.bad_frames)
        return None

    def _publish(self, rgb: np.ndarray) -> None:
        now = time.monotonic()
        self._last_good = now
        self._stamps.append(now)
        if self._state is not CameraStatus.OK:
            if self._state is CameraStatus.LOST:
                log("camera_back", source=self.source.name, reopens=self.reopens)
            self._set_state(CameraStatus.OK)
            self.error = ""
        with self._cond:
            if self.pace == "lockstep":
                while not self._taken and not self._stop.is_set():
                    self._cond.wait(0.1)
            self._count += 1
            t = self._t0 + self._count / self.source.fps if self.pace == "lockstep" else now
            self._latest = Frame(self._count, rgb, t, time.time())
            self._taken = False
            self._cond.notify_all()

    def _lost(self, why: str) -> None:
        self.error = why
        if self._state is not CameraStatus.LOST:
            log("camera_lost", source=self.source.name, reason=why)
        self._set_state(CameraStatus.LOST)

    def _set_state(self, state: CameraStatus) -> None:
        with self._cond:
            self._state = state
            self._cond.notify_all()
