"""The running kiosk: builds the store, the engine, the camera, the loop, the fallback, the QR scanner
and the HTTP endpoint from the config, starts their threads and stops them. The screen (or the
headless runner in ``kiosk.cli``) sits on top.

This is the module that puts the parts together: the only one of the door app that imports ``enroll``
(crop retention, the enrolment service for technician mode) and ``sync`` (sync as a thread,
provisioning codes, its status); pyproject.toml's import-linter contracts hold the rest of ``kiosk``
to that."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from device.config import DEFAULT_CONFIG, Config
from device.logs import log
from device.store import Store
from enroll import config as enrol_config
from enroll.retention import Retention
from enroll.service import EnrolmentService
from kiosk.camera import Camera, CameraStatus
from kiosk.door import Door
from kiosk.fallback import Fallback
from kiosk.frames import FrameSource
from kiosk.http import StatusServer
from kiosk.liveness import LivenessGate
from kiosk.loop import Loop
from kiosk.metrics import Metrics
from kiosk.presence import Presence
from kiosk.qr import QrScanner
from kiosk.sources import make_source
from models import catalog
from models.engine import FaceEngine
from models.liveness import LivenessChecker
from models.runtime import ModelError
from sync import config as sync_config
from sync import process
from sync.provisioning import from_technician
from sync.runner import Sync
from sync.state import status as sync_status


def liveness_gate(config: Config, source: FrameSource, engine: FaceEngine) -> LivenessGate | None:
    """The liveness check of [liveness], or None when it is off. A composed source (the demo door, test
    scenes: still photos pasted on a background) would be refused as photos, so liveness is off for it,
    and the log says so."""
    settings = config.liveness
    if not settings.enabled:
        log("liveness_off", why="config")
        return None
    if getattr(source, "composed", False):
        log("liveness_off", why="composed_source", source=source.name)
        return None
    directory = engine.settings.model_dir or catalog.model_dir()
    try:
        checker = LivenessChecker.from_dir(directory, settings.threads)
    except ModelError as exc:
        raise ModelError(f"{exc}; or set [liveness] enabled = false in config.toml") from exc
    gate = LivenessGate(checker, settings)
    log("liveness_on", models=checker.model_id, threshold=gate.thresholds.attack, grey_top=gate.thresholds.live,
        frames=settings.frames, calibrated_on=gate.thresholds.calibrated_on)
    return gate


class Kiosk:
    def __init__(self, config: Config, *, source: FrameSource | None = None, engine: FaceEngine | None = None,
                 store: Store | None = None, data_dir: Path | None = None) -> None:
        self.config = config
        self.started = time.time()
        self.store = store or Store(config.store.path)
        self.engine = engine or FaceEngine(config.engine)
        self.metrics = Metrics()
        self.door = Door(config.kiosk.greet_s, config.fallback.offer_s)
        data = data_dir or catalog.data_dir()
        self.source = source or make_source(config.camera, data)
        # A source made from the config is made anew after a driver hung in read(); a given one is reused.
        reopen = None if source is not None else (lambda: make_source(config.camera, data))
        self.camera = Camera(self.source, pace=config.camera.pace, frame_timeout_s=config.camera.frame_timeout_s,
                             backoff_s=config.camera.backoff_s, reopen=reopen)
        self.sync_config = sync_config.load(config.path)
        self.technician: str | None = None  # who is signed in on the screen's technician mode (the screen sets it)
        self.presence = Presence(self.store, self.door, self.metrics, self.room, config.kiosk.cooldown_s,
                                 clock_offset=self._clock_offset, clock_suspect_s=self.sync_config.clock_suspect_s)
        self.fallback = Fallback(self.store, self.presence, self.metrics, config.fallback)
        self.qr = QrScanner(self.camera, config.fallback.qr_scan_hz) if config.fallback.qr else None
        self.liveness = liveness_gate(config, self.source, self.engine)
        self.loop = Loop(self.engine, self.store, self.camera, self.door, self.presence, self.metrics, config.kiosk,
                         self.fallback, self.qr, liveness=self.liveness)
        # Sync as a thread of the kiosk ([sync] enabled), woken by each new event; provisioning codes
        # shown in technician mode are kept even when labgate-sync.service runs sync apart.
        self.sync = Sync(self.store, self.sync_config, handlers=process.handlers(config.path, in_kiosk=True),
                         model_id=self.engine.model_id) if self.sync_config.enabled else None
        if self.sync is not None:
            self.presence.listeners.append(self.sync.on_event)
        if self.qr is not None:
            self.qr.provision = lambda payload: self.provision(payload, "camera")
        # Retention of kept face crops and unfinished erasure wipes, in its own thread (enroll.retention).
        self.retention = Retention(self.store, enrol_config.load(config.path))
        self.http: StatusServer | None = None
        if config.http.enabled:
            try:
                self.http = StatusServer(config.http.host, config.http.port, self.store, self.health,
                                         self.metrics.text, config.events_token(), self.device_id)
            except OSError as exc:  # the door works without its status endpoint
                log("http_unavailable", host=config.http.host, port=config.http.port, error=str(exc))
        self.metrics.bind(outbox=self.store.outbox_size, camera_fps=lambda: self.camera.fps,
                          camera_up=lambda: float(self.camera.status is CameraStatus.OK),
                          reopens=lambda: float(self.camera.reopens))

    def room(self) -> str:
        """The room the server assigned this device (its changes feed), else [kiosk] room."""
        return self.store.server_config("room") or self.config.kiosk.room

    def _clock_offset(self) -> float:
        """Server clock minus this clock, as sync last measured it (0 before it ever did)."""
        value = self.store.sync_value("clock_offset_s")
        try:
            return float(value) if value else 0.0
        except ValueError:
            return 0.0

    def provision(self, payload: str, source: str) -> tuple[bool, str]:
        """A server's provisioning code shown to the camera or pasted on the technician screen: kept only
        while a technician is signed in; sync then exchanges it with the server. (kept, what to say)."""
        kept, message = from_technician(self.store, self.sync_config, payload, self.technician, source)
        if kept and self.sync is not None:
            self.sync.wake()
        return kept, message

    def enrolment(self) -> EnrolmentService:
        """The enrolment service on this kiosk's store and engine, with [enrol] from its config file (the
        screen's technician mode enrols through it)."""
        return EnrolmentService(self.store, self.engine, enrol_config.load(self.config.path or DEFAULT_CONFIG),
                                self.liveness.checker if self.liveness is not None else None)

    def device_id(self) -> str:
        return self.store.sync_value("device_id") or self.config.kiosk.device_id

    def start(self, stop_at_end: bool = False) -> Kiosk:
        self.retention.start()  # kept face crops past [enrol] retention_days, now and hourly; pending wipes
        self.camera.start()
        self.loop.start(stop_at_end)
        if self.qr is not None:
            self.qr.start()
        if self.http is not None:
            self.http.start()
        if self.sync is not None:
            self.sync.start()
        log("kiosk_started", device=self.device_id(), model_id=self.engine.model_id,
            source=self.camera.source.name, store=str(self.store.path), pid=os.getpid())
        return self

    def stop(self) -> None:
        self.loop.stop()
        self.retention.stop()
        self.camera.stop()
        if self.qr is not None:
            self.qr.stop()
        if self.http is not None:
            self.http.stop()
        if self.sync is not None:
            self.sync.stop(5.0)
        log("kiosk_stopped", frames=self.loop.frames, outbox=self.store.outbox_size())
        self.store.close()

    def threads(self) -> dict[str, bool]:
        alive = {"camera": self.camera.alive or self.camera.status is CameraStatus.ENDED, "loop": self.loop.alive}
        if self.qr is not None:
            alive["qr"] = self.qr.alive
        if self.http is not None:
            alive["http"] = self.http.alive
        if self.sync is not None:
            alive["sync"] = self.sync.alive
        return alive

    def decision(self) -> dict[str, Any]:
        """The thresholds the loop decides with, chosen for the gallery it holds."""
        t = self.loop.thresholds
        return {"gallery_people": len(self.loop.gallery), "accept": t.accept, "unknown": t.unknown,
                "margin": t.margin, "vote": list(self.loop.config.vote),
                "target_fpir": self.engine.settings.target_fpir if t.gallery_size is not None else None,
                "expected_fpir": t.expected_fpir,
                "chosen_for_gallery": t.gallery_size is not None}

    def health(self) -> dict[str, Any]:
        status = self.camera.status
        return {
            "device_id": self.device_id(),
            "ok": status is CameraStatus.OK and self.loop.alive,
            "camera": {"status": status.value, "fps": round(self.camera.fps, 2),
                       "source": self.camera.source.name, "reopens": self.camera.reopens,
                       "hangs": self.camera.hangs, "error": self.camera.error or None},
            "model_id": self.engine.model_id,
            "room": self.room(),
            "gallery_people": len(self.loop.gallery),
            "decision": self.decision(),
            "outbox": self.store.outbox_size(),
            "pending_writes": self.presence.pending,
            "last_seq": self.store.last_seq(),
            "last_sync": self.store.sync_value("last_sync_at"),
            "sync": sync_status(self.store),
            "frames": self.loop.frames,
            "threads": self.threads(),
            "uptime_s": round(time.time() - self.started, 1),
        }
