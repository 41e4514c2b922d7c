"""What the door shows now: one state for the screen and the headless log, fed by the loop, the
fallback and the camera, read by the screen many times a second.

Priority, highest first: the fallback keypad (while open), a fresh greeting, camera lost, a fresh
"look at the camera yourself" (a photo or screen was held up) or "not recognised", look again,
looking (with "one at a time, please" when several faces are in view), and otherwise idle, or
offline when the server has not been reached for a while.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from device.store import Booking


class View(StrEnum):
    IDLE = "idle"
    LOOKING = "looking"
    RECOGNISED = "recognised"
    LOOK_AGAIN = "look_again"
    UNKNOWN = "unknown"
    FALLBACK = "fallback"
    OFFLINE = "offline"
    CAMERA_LOST = "camera_lost"
    SPOOF = "spoof"  # liveness judged a photo or a screen: the person is asked to look themselves


@dataclass(frozen=True)
class Greeting:
    number: str
    name: str
    method: str  # face | pin | qr
    at: float  # Unix time of the event
    booking: Booking | None = None
    repeat: bool = False  # already recorded within the cooldown: greeted, no new event
    seq: int | None = None
    checked_in: Booking | None = None  # the booking this walk-in checks in (the server does it when the event arrives)


@dataclass(frozen=True)
class Box:
    box: tuple[float, float, float, float]
    kind: str  # waiting | accepted | unknown | ignored


@dataclass(frozen=True)
class Snapshot:
    view: View
    version: int
    greeting: Greeting | None = None
    prompt: str | None = None  # one_at_a_time, or a quality reason (too_small, blurred, ...)
    notice: str | None = None  # a string key: pin_wrong, qr_used, store_error, ...
    notice_params: dict[str, Any] = field(default_factory=dict)
    boxes: tuple[Box, ...] = ()
    offline: bool = False
    camera_error: str = ""


class Door:
    def __init__(self, greet_s: float = 4.0, offer_s: float = 30.0, notice_s: float = 5.0) -> None:
        self.greet_s, self.offer_s, self.notice_s = greet_s, offer_s, notice_s
        self._lock = threading.Lock()
        self._version = 0
        self._greeting: Greeting | None = None
        self._greeted_at = -1e9
        self._unknown_at = -1e9
        self._spoof_at = -1e9
        self._fallback_at: float | None = None
        self._faces = 0
        self._several = False
        self._look_again = False
        self._prompt: str | None = None
        self._boxes: tuple[Box, ...] = ()
        self._camera_lost = False
        self._camera_error = ""
        self._offline = False
        self._notice: tuple[str, dict[str, Any], float] | None = None
        self._last: tuple[Any, ...] = ()

    # -- inputs ------------------------------------------------------------------------------------
    def faces(self, boxes: tuple[Box, ...], several: bool, look_again: bool, prompt: str | None) -> None:
        with self._lock:
            self._boxes, self._faces, self._several = boxes, len(boxes), several
            self._look_again, self._prompt = look_again, prompt

    def recognised(self, greeting: Greeting) -> None:
        with self._lock:
            self._greeting, self._greeted_at = greeting, time.monotonic()
            self._unknown_at = -1e9
            self._spoof_at = -1e9
            self._fallback_at = None
            self._notice = None
            self._version += 1

    def unknown(self) -> None:
        with self._lock:
            self._unknown_at = time.monotonic()
            self._version += 1

    def spoof(self) -> None:
        with self._lock:
            self._spoof_at = time.monotonic()
            self._version += 1

    def camera(self, lost: bool, error: str = "") -> None:
        with self._lock:
            self._camera_lost, self._camera_error = lost, error

    def offline(self, offline: bool) -> None:
        with self._lock:
            self._offline = offline

    def open_fallback(self) -> None:
        with self._lock:
            self._fallback_at = time.monotonic()
            self._version += 1

    def touch_fallback(self) -> None:
        """The person is typing: keep the keypad open."""
        with self._lock:
            if self._fallback_at is not None:
                self._fallback_at = time.monotonic()

    def close_fallback(self) -> None:
        with self._lock:
            self._fallback_at = None
            self._version += 1

    def notice(self, key: str, **params: Any) -> None:
        with self._lock:
            self._notice = (key, params, time.monotonic())
            self._version += 1

    # -- output ------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        with self._lock:
            if self._fallback_at is not None and now - self._fallback_at > self.offer_s:
                self._fallback_at = None
            greeting = self._greeting if now - self._greeted_at <= self.greet_s else None
            if self._fallback_at is not None:
                view = View.FALLBACK
            elif greeting is not None:
                view = View.RECOGNISED
            elif self._camera_lost:
                view = View.CAMERA_LOST
            elif now - self._spoof_at <= self.greet_s:
                view = View.SPOOF
            elif now - self._unknown_at <= self.greet_s:
                view = View.UNKNOWN
            elif self._look_again and self._faces:
                view = View.LOOK_AGAIN
            elif self._faces:
                view = View.LOOKING
            else:
                view = View.OFFLINE if self._offline else View.IDLE
            notice = self._notice if self._notice and now - self._notice[2] <= self.notice_s else None
            prompt = "one_at_a_time" if self._several and view in (View.LOOKING, View.LOOK_AGAIN) else self._prompt
            state = (view, greeting, prompt, notice[0] if notice else None, self._offline, self._camera_error)
            if state != self._last:
                self._last = state
                self._version += 1
            return Snapshot(view, self._version, greeting, prompt, notice[0] if notice else None,
                            dict(notice[1]) if notice else {}, self._boxes, self._offline, self._camera_error)
