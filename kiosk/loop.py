"""The recognition loop: newest frame -> detect -> track -> quality gate -> liveness (a track's first
good frames) -> embed the faces still waiting for a decision -> match -> k-of-n vote -> event (one
transaction) -> door. With liveness on, a vote's verdict waits until the track is judged live; a track
judged an attack is logged as a ``spoof`` event (no identity), never accepted nor logged as a stranger.

Several faces: tracks are served largest (nearest) first, the quality gate refuses a face while
another one of similar size is in view, and the door asks for one at a time.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import replace

import numpy as np

from device.config import LoopConfig
from device.events import parse_iso
from device.logs import LOGGER, log
from device.store import Store
from device.watchdog import Watchdog
from kiosk.camera import Camera, CameraStatus, Frame
from kiosk.door import Box, Door
from kiosk.fallback import Fallback
from kiosk.liveness import LivenessGate
from kiosk.metrics import Metrics
from kiosk.presence import Presence
from kiosk.qr import QrScanner, code_covers, qr_detector
from kiosk.tracker import Track, Tracker, TrackState
from models.decision import Outcome, decide
from models.engine import FaceEngine
from models.liveness import Liveness
from models.quality import assess
from models.votes import Verdict


class Loop:
    def __init__(self, engine: FaceEngine, store: Store, camera: Camera, door: Door, presence: Presence,
                 metrics: Metrics, config: LoopConfig, fallback: Fallback | None = None,
                 qr: QrScanner | None = None, watchdog: Watchdog | None = None,
                 liveness: LivenessGate | None = None) -> None:
        self.engine, self.store, self.camera, self.door = engine, store, camera, door
        self.liveness = liveness
        self.presence, self.metrics, self.config = presence, metrics, config
        self.fallback, self.qr = fallback, qr
        self.watchdog = watchdog or Watchdog()
        k, n = config.vote
        self.tracker = Tracker(k, n, config.track_iou, config.track_ttl_s)
        self.gallery = engine.new_gallery()
        self.thresholds = engine.thresholds_for(0)  # chosen again for each gallery loaded
        self.quality = engine.settings.quality
        # The detector settings fitted to this camera's frame width; the engine's own stay as they are
        # (it is shared: enrolment and other loops in the same process detect with it too).
        self.detect_settings = engine.detector.settings
        self._detect_for_width = 0
        self._qr_outline = qr_detector()  # the loop's own: the scanner thread has another
        self._gallery_version = -1
        self._housekeeping_at = 0.0
        self.last_index = 0
        self.frames = 0
        self.ended = False
        self._several = False
        self.stop_at_end = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # Set while a technician enrols someone at this camera: frames are skipped (no decisions, no
        # events: the person being enrolled must not be logged as an unknown face at the door).
        self.paused = threading.Event()

    # -- running -----------------------------------------------------------------------------------
    def start(self, stop_at_end: bool = False) -> Loop:
        self.stop_at_end = stop_at_end
        self._thread = threading.Thread(target=self.run, name="loop", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        self.reload_gallery()
        self.presence.seed_cooldowns(time.monotonic())
        while not self._stop.is_set():
            self.watchdog.ping()
            try:
                self._housekeeping()
            except Exception:  # a store or QR hiccup must not end the loop
                LOGGER.exception("event=housekeeping_failed")
            frame = self.camera.next(self.last_index, timeout=0.25)
            if frame is None:
                if self.camera.status is CameraStatus.ENDED:
                    self.ended = True
                    if self.stop_at_end:
                        break
                self._expire()
                continue
            self.last_index = frame.index
            if self.paused.is_set():
                self.tracker.reset()  # no half-made votes survive the pause
                continue
            try:
                self.process(frame)
            except Exception:  # one bad frame must not end the loop
                self.metrics.frame_errors.inc()
                LOGGER.exception("event=frame_failed frame=%d", frame.index)
        log("loop_stopped", frames=self.frames)

    def _housekeeping(self) -> None:
        status = self.camera.status
        self.door.camera(status is CameraStatus.LOST, self.camera.error if status is CameraStatus.LOST else "")
        self.presence.retry()
        if self.qr is not None and self.fallback is not None:
            while True:
                try:
                    token = self.qr.found.get_nowait()
                except queue.Empty:
                    break
                self.fallback.qr(token)
        now = time.monotonic()
        if now < self._housekeeping_at:
            return
        self._housekeeping_at = now + 2.0
        self.reload_gallery()
        self.door.offline(self._offline())

    def _offline(self) -> bool:
        """Provisioned (sync knows a server) and no successful sync for offline_after_s."""
        if not self.store.sync_value("server"):
            return False
        last = self.store.sync_value("last_sync_at")
        return last is None or time.time() - parse_iso(last) > self.config.offline_after_s

    def reload_gallery(self) -> bool:
        version = self.store.gallery_version()
        if version == self._gallery_version:
            return False
        gallery = self.engine.new_gallery()
        for person, vectors in self.store.templates(self.engine.model_id).items():
            gallery.add(person, vectors, self.engine.model_id)
        thresholds = self.engine.thresholds_for(len(gallery))
        self.gallery, self._gallery_version, self.thresholds = gallery, version, thresholds
        self.metrics.gallery_people.set(len(gallery))
        self.metrics.accept_threshold.set(thresholds.accept)
        if thresholds.expected_fpir is not None:
            self.metrics.expected_fpir.set(thresholds.expected_fpir)
        log("gallery_loaded", people=len(gallery), model_id=self.engine.model_id, version=version,
            accept=thresholds.accept, expected_fpir=thresholds.expected_fpir,
            target_fpir=self.engine.settings.target_fpir if thresholds.gallery_size is not None else None)
        return True

    def _expire(self) -> None:
        """No frame came: with the camera down, nobody is in view any more."""
        if self.camera.status is not CameraStatus.OK and self.tracker.tracks:
            self.tracker.reset()
        if not self.tracker.tracks:
            self.door.faces((), False, False, None)

    # -- one frame ---------------------------------------------------------------------------------
    def process(self, frame: Frame) -> None:
        start = time.perf_counter()
        rgb = frame.rgb
        self._fit_detector(rgb.shape[1])
        faces = self.engine.detector.detect(rgb, self.detect_settings)
        t_detect = time.perf_counter()
        tracks = self.tracker.update(faces, frame.t, frame.wall)
        for track in tracks:
            if track.first_t == frame.t:  # a new face: a QR code held up is looked for once (about 6 ms)
                self._not_a_face(track, frame)
        t_track = time.perf_counter()
        # Not faces (a QR code held up): not counted, voted on or shown. Every detection of this frame is
        # the face of a track seen now, so the faces in view are those tracks' faces.
        tracks = [tr for tr in tracks if tr.state is not TrackState.IGNORED]
        faces = [tr.face for tr in tracks if tr.seen_now]
        counted = [f for f in faces if min(f.width, f.height) >= self.quality.min_face_px]
        several = len(counted) > 1
        if several != self._several:
            self._several = several
            if several:
                log("prompt", prompt="one_at_a_time", faces=len(counted), frame=frame.index)
        waiting = [tr for tr in tracks if tr.seen_now and tr.state is TrackState.WAITING][:self.config.max_waiting]
        passing: list[tuple[Track, np.ndarray]] = []
        prompt = None
        for i, track in enumerate(waiting):
            crop = self.engine.embedder.crop(rgb, track.face)
            report = assess(track.face, crop, faces, self.quality)
            if report.ok:
                passing.append((track, crop))
                continue
            for reason in report.reasons:
                self.metrics.quality_rejects.labels(reason).inc()
            if i == 0 and track is tracks[0]:
                prompt = report.reasons[0]
        t_quality = time.perf_counter()
        models_run = self._check_liveness(rgb, waiting, passing, frame)
        if self.liveness is not None and waiting and waiting[0] is tracks[0] and waiting[0].liveness.asking_turn:
            prompt = "turn_head"
        passing = [(tr, crop) for tr, crop in passing if tr.state is TrackState.WAITING]  # not judged attacks
        t_live = time.perf_counter()
        t_embed = t_live
        if passing:
            vectors = self.engine.embedder.embed_crops(np.stack([crop for _, crop in passing]))
            t_embed = time.perf_counter()
            for (track, _), vector in zip(passing, vectors, strict=True):
                decision = decide(self.gallery.match(vector, self.engine.model_id), self.thresholds)
                verdict = track.vote.add(decision)
                if verdict is not None:
                    self._on_verdict(track, verdict, frame)
        t_match = time.perf_counter()
        for track in waiting:
            # Undecided after enough evidence (2n good frames) and time: log it and offer the fallback;
            # the track keeps voting, so a face that turns out known is still accepted.
            if (not track.unknown_logged and track.vote.seen >= 2 * track.vote.n and self._live(track)
                    and track.state is TrackState.WAITING and frame.t - track.first_t > self.config.decide_timeout_s):
                self._unknown(track, frame, track.vote.window[-1].score, track.vote.window[-1].margin, "timeout")
        t_store = time.perf_counter()
        primary = tracks[0] if tracks else None
        look_again = primary is not None and primary.state is TrackState.WAITING and primary.look_again
        self.door.faces(tuple(_box(tr) for tr in tracks if tr.seen_now), several, look_again, prompt)
        self.frames += 1
        self.metrics.frames.inc()
        stage = self.metrics.stage
        stage.labels("detect").observe(t_detect - start)
        stage.labels("track").observe(t_track - t_detect)
        stage.labels("quality").observe(t_quality - t_track)
        if models_run:
            stage.labels("liveness").observe(t_live - t_quality)
        if passing:
            stage.labels("embed").observe(t_embed - t_live)
            stage.labels("match").observe(t_match - t_embed)
        stage.labels("store").observe(t_store - t_match)
        stage.labels("frame").observe(time.perf_counter() - start)

    def _check_liveness(self, rgb: np.ndarray, waiting: list[Track], passing: list[tuple[Track, np.ndarray]],
                        frame: Frame) -> int:
        """Score the good frames of tracks that still need it, follow head turns, act on verdicts.
        Returns how many faces the models scored."""
        if self.liveness is None:
            return 0
        gate, scored = self.liveness, 0
        good = {id(track) for track, _ in passing}
        for track in waiting:
            state = track.liveness
            before = state.verdict
            if id(track) in good and gate.wants_frame(state):
                judged = gate.check(state, rgb, track.face, frame.t)
                scored += 1
                if judged is Liveness.UNSURE:
                    log("liveness", verdict="unsure", score=round(state.score, 4), asked="turn_head", track=track.id,
                        frame=frame.index)
            elif state.asking_turn:
                gate.turn(state, track.face, frame.t)
            if state.verdict is before or state.verdict is None:
                continue
            log("liveness", verdict=state.verdict.value, why=state.why, score=round(state.score, 4),
                frames=len(state.scores), track=track.id, frame=frame.index)
            if state.verdict is Liveness.ATTACK:
                self._spoof(track, frame)
            elif track.held is not None:
                held, track.held = track.held, None
                self._on_verdict(track, held, frame)
        return scored

    def _spoof(self, track: Track, frame: Frame) -> None:
        assert self.liveness is not None
        track.state, track.look_again, track.held = TrackState.DECIDED, False, None
        score = track.liveness.score
        event = self.presence.spoof_face(frame.wall, score, score - self.liveness.thresholds.attack,
                                         self.liveness.model_id, first_wall=track.first_wall)
        log("decision", outcome="spoof", method="face", person=None, score=round(score, 4),
            why=track.liveness.why, seq=event.seq if event else None, track=track.id, frame=frame.index)

    def _live(self, track: Track) -> bool:
        return self.liveness is None or track.liveness.verdict is Liveness.LIVE

    def _on_verdict(self, track: Track, verdict: Verdict, frame: Frame) -> None:
        if verdict.outcome is Outcome.LOOK_AGAIN:
            track.look_again = True
            return
        if not self._live(track):  # decided only once the face is judged live
            track.held = verdict
            return
        if verdict.outcome is Outcome.UNKNOWN:
            if not track.unknown_logged:
                self._unknown(track, frame, verdict.score, verdict.margin, "vote")
            if track.state is TrackState.WAITING:
                track.state = TrackState.DECIDED
            return
        assert verdict.person is not None
        track.state, track.person, track.look_again = TrackState.DECIDED, verdict.person, False
        written = self.presence.accept_face(verdict.person, frame.t, frame.wall, verdict.score, verdict.margin,
                                            self.engine.model_id, first_wall=track.first_wall)
        seq = written.event.seq if written.event else None
        log("decision", outcome="accept", method="face", person=verdict.person, score=verdict.score,
            margin=verdict.margin, seq=seq, repeat=written.event is None and written.greeting is not None,
            track=track.id, frame=frame.index, ms=round((frame.wall - track.first_wall) * 1000))

    def _unknown(self, track: Track, frame: Frame, score: float, margin: float, why: str) -> None:
        if self._not_a_face(track, frame):  # looked for again: the code may not have been found at first
            return
        track.unknown_logged = True
        event = self.presence.unknown_face(frame.wall, score, margin, self.engine.model_id, first_wall=track.first_wall)
        log("decision", outcome="unknown", method="face", person=None, score=score, margin=margin,
            seq=event.seq if event else None, why=why, track=track.id, frame=frame.index)

    def _not_a_face(self, track: Track, frame: Frame) -> bool:
        """A QR code held up that the detector took for a face: the track is ignored from now on
        (no embedding, no box, not counted among the faces in view, never logged as a stranger)."""
        if not code_covers(frame.rgb, track.face.box, self._qr_outline):
            return False
        track.state = TrackState.IGNORED
        self.metrics.not_faces.labels("qr_code").inc()
        log("not_a_face", reason="qr_code", score=track.face.score, track=track.id, frame=frame.index)
        return True

    def _fit_detector(self, width: int) -> None:
        """Detect on frames downscaled to [kiosk] detect_width; face sizes stay in camera pixels."""
        if width == self._detect_for_width:
            return
        base = self.engine.detector.settings
        factor = min(1.0, self.config.detect_width / width)
        self.detect_settings = replace(base, scale=base.scale * factor, min_face=max(12, round(base.min_face * factor)))
        self._detect_for_width = width
        log("detector_fitted", frame_width=width, scale=self.detect_settings.scale,
            min_face=self.detect_settings.min_face)


def _box(track: Track) -> Box:
    kind = "waiting"
    if track.state is TrackState.DECIDED:
        kind = "accepted" if track.person else "unknown"
    x1, y1, x2, y2 = (float(v) for v in track.face.box)
    return Box((x1, y1, x2, y2), kind)
