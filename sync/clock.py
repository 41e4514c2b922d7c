"""How far this device's clock is from the server's, from the server's answers.

Each answer gives a sample: the server's time (its ``Date`` header, to the second, and the
``server_time`` of a batch reply, to the millisecond) against the midpoint of the request on this
clock. ``server_time`` is used only when it agrees with ``Date``: a replayed batch reply carries
the time of its first answer. The estimate is the sample with the shortest round trip among the
recent ones (the least disturbed by network delay), as NTP does, preferring millisecond samples:
a ``Date`` is good to about a second (servers cache it for a second).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from email.utils import parsedate_to_datetime

SAMPLES = 8
DATE_RESOLUTION_S = 1.0
AGREE_S = 2.0  # server_time within this of Date is a fresh answer, not a replay


def header_time(value: str | None) -> float | None:
    """Unix time of an HTTP ``Date`` header (the middle of its second), or None."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp() + DATE_RESOLUTION_S / 2
    except (TypeError, ValueError):
        return None


def iso_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class ClockEstimate:
    def __init__(self) -> None:
        self._precise: deque[tuple[float, float]] = deque(maxlen=SAMPLES)  # (round trip, offset)
        self._coarse: deque[tuple[float, float]] = deque(maxlen=SAMPLES)

    def add(self, sent: float, received: float, date_header: str | None, server_time: object = None) -> float | None:
        """Record one answer (``sent``/``received`` on this clock); returns the sample's offset (server - here)."""
        coarse = header_time(date_header)
        precise = iso_time(server_time)
        middle = (sent + received) / 2
        round_trip = max(0.0, received - sent)
        if precise is not None and (coarse is None or abs(precise - coarse) <= AGREE_S):
            self._precise.append((round_trip, precise - middle))
            return precise - middle
        if coarse is None:
            return None
        self._coarse.append((round_trip, coarse - middle))
        return coarse - middle

    @property
    def offset(self) -> float | None:
        """Seconds to add to this clock to get the server's, or None before any answer."""
        samples = self._precise or self._coarse
        return min(samples)[1] if samples else None
