"""When to try the server again: exponential backoff with jitter, and the server's ``Retry-After``.

Each failure doubles the wait from ``first`` up to ``longest``; the wait actually taken is drawn
between half and all of it ("equal jitter"), so kiosks that lost the server together do not come
back together. A ``Retry-After`` the server sent is a floor: never sooner than it asked.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 3600.0  # a longer Retry-After is taken as an hour (a bad header must not park a kiosk)


class Backoff:
    def __init__(self, first: float, longest: float, rng: random.Random | None = None) -> None:
        self.first, self.longest = first, longest
        self.failures = 0
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self.failures = 0

    def next(self, retry_after: float | None = None) -> float:
        """Seconds to wait after one more failure."""
        ceiling = min(self.longest, self.first * 2 ** min(self.failures, 30))
        self.failures += 1
        wait = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_S))
        return wait


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
