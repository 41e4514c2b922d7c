"""The one path from a decision to the store and the door: write the event (the outbox row), then
greet. A write that fails (a full disk, an I/O error) is kept in memory and retried; the door says
so instead of greeting, so the screen never confirms what is not on disk.

One event per person per cooldown for faces; a PIN or QR entry is a deliberate act and always
writes its event (and starts the person's cooldown, so the face seen right after is not logged again).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.events import Event, new_event
from device.logs import log
from device.store import Store
from kiosk.door import Door, Greeting
from kiosk.metrics import Metrics


class AlreadyUsed(Exception):
    """A QR token's id was used before (the store refused it)."""


@dataclass(frozen=True)
class Written:
    event: Event | None  # None when kept for a retry (store failing) or within the cooldown
    greeting: Greeting | None


class Presence:
    def __init__(self, store: Store, door: Door, metrics: Metrics, room: str | Callable[[], str] = "",
                 cooldown_s: float = 60.0, clock_offset: Callable[[], float] = lambda: 0.0,
                 clock_suspect_s: float = 300.0) -> None:
        self.store, self.door, self.metrics = store, door, metrics
        self.room = room if callable(room) else (lambda: room)  # read at each greeting: the server may move it
        self.cooldown_s = cooldown_s
        self.clock_offset = clock_offset  # server clock minus ours, as sync measured it
        self.clock_suspect_s = clock_suspect_s  # events recorded while further off are flagged
        self.listeners: list[Callable[[Event, float | None], None]] = []  # (event, first frame's wall time)
        self._last: dict[str, float] = {}  # person -> loop clock of their last event
        self._pending: deque[tuple[Event, tuple[str, int] | None]] = deque(maxlen=100_000)
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def seed_cooldowns(self, now_t: float) -> None:
        """After a restart: people logged within the cooldown stay in it."""
        wall = time.time()
        for person, captured in self.store.recent_accepts(wall - self.cooldown_s).items():
            self._last[person] = now_t - (wall - captured)

    def in_cooldown(self, person: str, t: float) -> bool:
        last = self._last.get(person)
        return last is not None and t - last < self.cooldown_s

    def accept_face(self, person: str, t: float, wall: float, score: float, margin: float, model_id: str,
                    first_wall: float | None = None) -> Written:
        if self.in_cooldown(person, t):
            greeting = self.greeting(person, "face", wall, None, repeat=True)
            self.door.recognised(greeting)
            return Written(None, greeting)
        event = self._event(person, "accept", "face", wall, score=score, margin=margin, model_id=model_id)
        written = self._write(event, None, first_wall)
        self._last[person] = t
        if written is None:
            return Written(None, None)
        greeting = self.greeting(person, "face", wall, written.seq)
        self.door.recognised(greeting)
        return Written(written, greeting)

    def unknown_face(self, wall: float, score: float, margin: float, model_id: str,
                     first_wall: float | None = None) -> Event | None:
        event = self._event(None, "unknown", "face", wall, score=score, margin=margin, model_id=model_id)
        written = self._write(event, None, first_wall)
        self.door.unknown()
        return written

    def spoof_face(self, wall: float, score: float, margin: float, model_id: str,
                   first_wall: float | None = None) -> Event | None:
        """A photo or screen held up (liveness): an event with no person, and the door asks for the person."""
        event = self._event(None, "spoof", "face", wall, score=score, margin=margin, model_id=model_id)
        written = self._write(event, None, first_wall)
        self.door.spoof()
        return written

    def accept_fallback(self, person: str, method: str, t: float | None = None,
                        qr_jti: tuple[str, int] | None = None) -> Written:
        """A PIN or QR entry: always an event. Raises AlreadyUsed for a QR token seen before."""
        wall = time.time()
        event = self._event(person, "accept", method, wall)
        written = self._write(event, qr_jti, None)
        self._last[person] = time.monotonic() if t is None else t
        if written is None:
            return Written(None, None)
        greeting = self.greeting(person, method, wall, written.seq)
        self.door.recognised(greeting)
        return Written(written, greeting)

    def _event(self, person: str | None, outcome: str, method: str, wall: float, **scores: Any) -> Event:
        """A new event stamped with sync's clock offset (flagged when it exceeds ``clock_suspect_s``)."""
        return new_event(person, outcome, method, wall, clock_offset_s=self.clock_offset(),
                         max_offset_s=self.clock_suspect_s, **scores)

    def greeting(self, number: str, method: str, wall: float, seq: int | None, repeat: bool = False) -> Greeting:
        person = self.store.person(number)
        booking = self.store.current_booking(self.room(), wall)
        checked_in = None if repeat or seq is None else self.store.check_in_booking(self.room(), number, wall)
        if checked_in is not None:
            log("booking_check_in", booking=checked_in.id, person=number, seq=seq)
        return Greeting(number, person.name if person and person.name else number, method, wall,
                        booking or checked_in, repeat, seq, checked_in)

    # -- writing -----------------------------------------------------------------------------------
    def _write(self, event: Event, qr_jti: tuple[str, int] | None, first_wall: float | None) -> Event | None:
        try:
            written = self.store.record_event(event, qr_jti)
        except sqlite3.IntegrityError as exc:
            if qr_jti is not None and "qr_used" in str(exc):
                raise AlreadyUsed(qr_jti[0]) from exc
            raise
        except sqlite3.Error as exc:  # full disk, I/O error, locked past the timeout
            self._keep(event, qr_jti, exc)
            return None
        self._done(written, first_wall)
        return written

    def _keep(self, event: Event, qr_jti: tuple[str, int] | None, exc: Exception) -> None:
        with self._lock:
            self._pending.append((event, qr_jti))
            waiting = len(self._pending)
        self._retry_at = time.monotonic() + 1.0
        self.metrics.store_errors.inc()
        log("store_error", id=event.id, outcome=event.outcome, method=event.method, pending=waiting, error=str(exc))
        self.door.notice("store_error")

    def _done(self, event: Event, first_wall: float | None) -> None:
        self.metrics.decisions.labels(event.outcome, event.method).inc()
        latency = None if first_wall is None else time.time() - first_wall
        if latency is not None:
            self.metrics.time_to_decision.observe(latency)
        for listener in self.listeners:
            listener(event, first_wall)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def retry(self) -> int:
        """Write events kept after a failure (called by the loop; at most once a second). Returns how many
        were written."""
        if not self._pending or time.monotonic() < self._retry_at:
            return 0
        written = 0
        while True:
            with self._lock:
                if not self._pending:
                    break
                event, qr_jti = self._pending[0]
            try:
                stored = self.store.record_event(event, qr_jti)
            except sqlite3.IntegrityError:
                stored = None  # written before the error was seen, or a QR id used meanwhile: nothing to add
            except sqlite3.Error as exc:
                self._retry_at = time.monotonic() + 1.0
                log("store_retry_failed", pending=len(self._pending), error=str(exc))
                break
            with self._lock:
                self._pending.popleft()
            if stored is not None:
                written += 1
                self._done(stored, None)
        if written:
            log("store_recovered", written=written, pending=len(self._pending))
        return written
