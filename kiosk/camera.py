"""The camera: reads a frame source without pause and keeps only the newest frame.

The recognition loop always takes the latest frame, so a slow frame never makes a growing lag. A
source that raises, or gives no frame for ``frame_timeout_s``, is closed and reopened with
exponential backoff; meanwhile ``status`` is LOST and the screen says so. Frames that are not
images (wrong shape or type) are dropped and counted, never passed on.

Reads run on a reader thread of their own, watched by the camera thread: a driver whose ``read()``
(or ``open()``) never returns is abandoned after ``frame_timeout_s`` (``open_timeout_s``), its
source closed in the background and a new one opened (from ``reopen``, else the same object
again). Whatever an abandoned reader returns later is dropped.

``pace``: "realtime" plays files, folders and scenes at their frame rate (frames are dropped when the
loop is slower, as with a real camera); "lockstep" hands every frame to the loop and waits for it
(tests and accelerated benchmarks: the frame clock ``Frame.t`` is then the video's own time).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from device.logs import log
from kiosk.frames import EndOfStream, FrameSource
from kiosk.sources import to_rgb

CLOSE_WAIT_S = 1.0  # how long a hung source's close() is waited for before the camera opens again


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


class _Session:
    """One open-read-close run of a source on its own reader thread."""

    def __init__(self, number: int, source: FrameSource) -> None:
        self.number = number
        self.source = source
        self.call: tuple[str, float] | None = None  # ("open" | "read", monotonic start) while inside the driver
        self.outcome = ""  # ended | failed | stopped
        self.frames = 0
        self.abandoned = False  # the camera gave up on this reader (a call that did not return)
        self.close_when_back = False  # ... and its reader closes the source if the call ever returns
        self.thread: threading.Thread | None = None


class Camera:
    def __init__(self, source: FrameSource, *, pace: str = "realtime", frame_timeout_s: float = 3.0,
                 backoff_s: tuple[float, float] = (0.5, 10.0), open_timeout_s: float | None = None,
                 reopen: Callable[[], FrameSource] | None = None) -> None:
        """``reopen`` makes a fresh source after a hung call (a driver stuck in ``read()`` cannot be
        trusted again); without it the same source object is closed and opened again."""
        self.source = source
        self.pace = pace
        self.frame_timeout_s = frame_timeout_s
        self.open_timeout_s = open_timeout_s if open_timeout_s is not None else max(10.0, frame_timeout_s)
        self.backoff_s = backoff_s
        self.reopen = reopen
        self.reopens = 0
        self.hangs = 0  # reader threads abandoned inside a read() or open() that never returned
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
        self._session: _Session | None = None
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
        """Frames per second over the last 30 frames; 0 while the camera gives none (lost or ended)."""
        stamps = list(self._stamps)
        if len(stamps) < 2 or self.status is not CameraStatus.OK:
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
        if threading.current_thread() is self._thread:
            return
        deadline = time.monotonic() + timeout
        if self._thread.is_alive():
            self._thread.join(timeout)
        session = self._session
        if session is not None and session.thread is not None and not session.abandoned:
            session.thread.join(max(0.0, deadline - time.monotonic()))  # it closes its source

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

    # -- the camera thread: start readers, watch them, reopen ---------------------------------------
    def _run(self) -> None:
        backoff = self.backoff_s[0]
        number = 0
        while not self._stop.is_set():
            if number:
                self.reopens += 1
                log("camera_reopen", source=self.source.name, attempt=self.reopens)
            number += 1
            session = _Session(number, self.source)
            session.thread = threading.Thread(target=self._read_session, args=(session,),
                                              name=f"camera-reader-{number}", daemon=True)
            self._session = session
            session.thread.start()
            hung = self._watch(session)
            if hung:
                self._abandon(session, hung)
            elif session.outcome == "ended":
                self._set_state(CameraStatus.ENDED)
                log("camera_ended", source=self.source.name, frames=self._count)
                return
            if session.frames:  # it worked for a while: start the backoff again
                backoff = self.backoff_s[0]
            if not self._stop.is_set():
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_s[1])

    def _watch(self, session: _Session) -> str:
        """Wait for the session's reader to end; '' when it did, else why it was given up (a hang)."""
        assert session.thread is not None
        while session.thread.is_alive():
            session.thread.join(0.05)
            if self._stop.is_set():
                return ""
            call = session.call
            if call is None:
                continue
            what, since = call
            limit = self.open_timeout_s if what == "open" else self.frame_timeout_s
            if time.monotonic() - since > limit and session.thread.is_alive():
                return f"{what}() did not return for {limit:g} s"
        return ""

    def _abandon(self, session: _Session, why: str) -> None:
        """Leave a reader stuck in the driver behind; its frames no longer count. With ``reopen`` the next
        session gets a new source and the stuck one is left alone until its call returns (a driver is
        rarely safe to close from another thread mid-read); its reader closes it then. Without, the same
        object is closed here (in the background, waited for a moment) and opened again."""
        with self._cond:
            session.close_when_back = self.reopen is not None
            session.abandoned = True
            self._cond.notify_all()
        self.hangs += 1
        self._lost(f"{why}; reopening the camera")
        log("camera_hung", source=session.source.name, call=why, hangs=self.hangs)
        if self.reopen is None:
            closer = threading.Thread(target=self._close, args=(session.source,), name="camera-close", daemon=True)
            closer.start()
            closer.join(CLOSE_WAIT_S)
            return
        try:
            self.source = self.reopen()
        except Exception as exc:  # a bad config or a missing device: try again after the backoff
            log("camera_reopen_failed", source=self.source.name, error=str(exc))

    def _close(self, source: FrameSource) -> None:
        try:
            source.close()
        except Exception as exc:
            log("camera_close_failed", source=source.name, error=str(exc))

    # -- a reader thread ---------------------------------------------------------------------------
    def _read_session(self, session: _Session) -> None:
        source = session.source
        session.call = ("open", time.monotonic())
        try:
            source.open()
        except Exception as exc:  # a driver can raise anything; the camera must live on
            session.call = None
            if not session.abandoned:
                self._lost(f"open failed: {exc}")
            session.outcome = "failed"
            return
        session.call = None
        if session.abandoned:  # open() came back after the camera gave up on it
            if session.close_when_back:
                self._close(source)
            return
        self._last_good = time.monotonic()
        try:
            session.outcome = self._read_until_failure(session)
        finally:
            if not session.abandoned or session.close_when_back:
                self._close(source)

    def _read_until_failure(self, session: _Session) -> str:
        """Read frames until the source fails, ends, the camera stops or gives up on this reader."""
        source = session.source
        due = time.monotonic()
        while not self._stop.is_set() and not session.abandoned:
            session.call = ("read", time.monotonic())
            try:
                raw = source.read()
            except EndOfStream:
                return "ended"
            except Exception as exc:
                if not session.abandoned:
                    self._lost(str(exc))
                return "failed"
            finally:
                session.call = None
            if session.abandoned:
                return "abandoned"  # a frame from a read the camera gave up on is stale: dropped
            frame = self._valid(raw, source)
            if frame is None:
                if time.monotonic() - self._last_good > self.frame_timeout_s:
                    self._lost(f"no frame for {self.frame_timeout_s:g} s")
                    return "failed"
                if raw is None:
                    self._stop.wait(0.005)
                continue
            if not source.live and self.pace == "realtime":
                due += 1.0 / source.fps
                wait = due - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                elif wait < -1.0 / source.fps:  # behind: do not burst to catch up
                    due = time.monotonic()
            if not self._publish(frame, session):
                return "abandoned"
        return "stopped"

    def _valid(self, raw: object, source: FrameSource) -> np.ndarray | None:
        if raw is None:
            return None
        if isinstance(raw, np.ndarray) and raw.dtype == np.uint8 and raw.size and (
                raw.ndim == 2 or (raw.ndim == 3 and raw.shape[2] in (3, 4))) and min(raw.shape[:2]) >= 16:
            return np.ascontiguousarray(to_rgb(raw, "RGB"))
        self.bad_frames += 1
        if self.bad_frames in (1, 10, 100) or self.bad_frames % 1000 == 0:
            shape = getattr(raw, "shape", None)
            log("frame_dropped", source=source.name, reason="not an image", type=type(raw).__name__,
                dtype=str(getattr(raw, "dtype", "-")), shape=shape, count=self.bad_frames)
        return None

    def _publish(self, rgb: np.ndarray, session: _Session) -> bool:
        """Hand a frame to the loop; False when this reader was abandoned meanwhile (frame dropped)."""
        with self._cond:
            if self.pace == "lockstep":
                while not self._taken and not self._stop.is_set() and not session.abandoned:
                    self._cond.wait(0.1)
            if session.abandoned:
                return False
            now = time.monotonic()
            self._last_good = now
            self._stamps.append(now)
            if self._state is not CameraStatus.OK:
                if self._state is CameraStatus.LOST:
                    log("camera_back", source=session.source.name, reopens=self.reopens)
                self._state = CameraStatus.OK
                self.error = ""
            self._count += 1
            session.frames += 1
            t = self._t0 + self._count / session.source.fps if self.pace == "lockstep" else now
            self._latest = Frame(self._count, rgb, t, time.time())
            self._taken = False
            self._cond.notify_all()
        return True

    def _lost(self, why: str) -> None:
        self.error = why
        if self._state is not CameraStatus.LOST:
            log("camera_lost", source=self.source.name, reason=why)
        self._set_state(CameraStatus.LOST)

    def _set_state(self, state: CameraStatus) -> None:
        with self._cond:
            self._state = state
            self._cond.notify_all()
