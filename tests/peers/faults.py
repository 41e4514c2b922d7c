"""What a peer does to the next requests, and what it accepted.

``Faults.plan(("500", 3), ("429", 2), ("drop", 2), ("hang", 2))`` makes the next three requests get a
500, then two a 429 with Retry-After, two a dropped connection, two a hang past the client's timeout,
and then normal service. A ``hang`` accepts the message first (as a provider that did the work but
whose answer never arrived): the ledger counts it as accepted with its response lost.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

MODES = ("500", "429", "drop", "hang")


class Faults:
    def __init__(self, retry_after: int = 1, hang_seconds: float = 3.0) -> None:
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self.served: Counter[str] = Counter()

    def plan(self, *steps: tuple[str, int]) -> None:
        with self._lock:
            for mode, count in steps:
                assert mode in MODES, mode
                self._script.extend([mode] * count)

    def next(self) -> str | None:
        """The fault for this request, or None for normal service."""
        with self._lock:
            mode = self._script.popleft() if self._script else None
            self.served[mode or "ok"] += 1
            return mode

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)


@dataclass
class Ledger:
    """Per message id (ours, carried in the request): times accepted, and times accepted whose answer
    was lost; the moments of 429 answers and of the requests after them (Retry-After checks)."""

    accepted: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    requests: list[float] = field(default_factory=list)
    throttled: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self) -> None:
        with self.lock:
            self.requests.append(time.monotonic())

    def accept(self, message_id: str, lost: bool = False) -> None:
        with self.lock:
            self.accepted[message_id] += 1
            if lost:
                self.lost[message_id] += 1

    def throttle(self) -> None:
        with self.lock:
            self.throttled.append(time.monotonic())

    def exactly_once_apart_from_lost(self, ids: set[str]) -> dict[str, tuple[int, int]]:
        """The messages NOT accepted exactly once beyond their lost answers: {id: (accepted, lost)}."""
        with self.lock:
            return {m: (self.accepted[m], self.lost[m]) for m in ids | set(self.accepted)
                    if self.accepted[m] - self.lost[m] != 1}

    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.accepted.values() if n > 1)

    def earliest_after_throttle(self) -> list[float]:
        """For each 429, seconds until the next request reached this peer."""
        with self.lock:
            gaps = []
            for moment in self.throttled:
                later = [r for r in self.requests if r > moment]
                if later:
                    gaps.append(min(later) - moment)
            return gaps
