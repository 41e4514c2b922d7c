"""The kiosk's Prometheus metrics, in a registry of its own (one per running kiosk)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STAGES = ("detect", "track", "quality", "embed", "match", "store", "frame")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("labgate_kiosk_decisions", "Decisions by outcome and method",
                                 ["outcome", "method"], registry=r)
        self.stage = Histogram("labgate_kiosk_stage_seconds", "Time per stage of the recognition loop", ["stage"],
                               buckets=(0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0),
                               registry=r)
        self.time_to_decision = Histogram(
            "labgate_kiosk_time_to_decision_seconds", "From a face's first frame to its event",
            buckets=(0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0), registry=r)
        self.quality_rejects = Counter("labgate_kiosk_quality_rejects", "Faces refused by the quality gate",
                                       ["reason"], registry=r)
        self.frames = Counter("labgate_kiosk_frames", "Frames through the loop", registry=r)
        self.frame_errors = Counter("labgate_kiosk_frame_errors", "Frames whose processing failed", registry=r)
        self.store_errors = Counter("labgate_kiosk_store_errors", "Event writes that failed (retried)", registry=r)
        self.pin_attempts = Counter("labgate_kiosk_pin_attempts", "NIM + PIN attempts by result", ["result"],
                                    registry=r)
        self.not_faces = Counter("labgate_kiosk_not_faces", "Detections found not to be faces, by reason",
                                 ["reason"], registry=r)
        self.qr_tokens = Counter("labgate_kiosk_qr_tokens", "QR tokens seen by result", ["result"], registry=r)
        self.outbox = Gauge("labgate_kiosk_outbox_events", "Events not yet synced to the server", registry=r)
        self.camera_fps = Gauge("labgate_kiosk_camera_fps", "Frames per second from the camera", registry=r)
        self.camera_up = Gauge("labgate_kiosk_camera_up", "1 when the camera gives frames", registry=r)
        self.camera_reopens = Gauge("labgate_kiosk_camera_reopens", "Times the camera was reopened", registry=r)
        self.gallery_people = Gauge("labgate_kiosk_gallery_people", "People in the loaded gallery", registry=r)
        self.accept_threshold = Gauge("labgate_kiosk_accept_threshold", "τ_accept in use for the loaded gallery",
                                      registry=r)
        self.expected_fpir = Gauge("labgate_kiosk_expected_fpir",
                                   "Expected share of strangers accepted per walk-up at the gallery's size", registry=r)

    def bind(self, outbox: Callable[[], float], camera_fps: Callable[[], float], camera_up: Callable[[], float],
             reopens: Callable[[], float]) -> None:
        """Gauges read at scrape time."""
        self.outbox.set_function(outbox)
        self.camera_fps.set_function(camera_fps)
        self.camera_up.set_function(camera_up)
        self.camera_reopens.set_function(reopens)

    def text(self) -> bytes:
        return generate_latest(self.registry)
