"""A bounded number of costly jobs at once per process (password hashes, photo analyses): each takes
a turn, waits for one up to a bound, and is otherwise turned away with a 503 and Retry-After before
it has cost anything. Turns are taken in worker threads (sync endpoints, the thread pool), never on
the event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from server.core.errors import Unavailable


class Busy(Unavailable):
    """Every turn stayed taken for the whole wait (a 503 with Retry-After)."""


class Turns:
    def __init__(self, count: int, wait: float, what: str) -> None:
        self.count, self.wait, self.what = count, wait, what
        self._free = threading.BoundedSemaphore(count)
        self._held = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold a turn for the block; reentrant in one thread (a caller may take its turn around work
        that takes it again)."""
        depth = getattr(self._held, "depth", 0)
        if depth == 0 and not self._free.acquire(timeout=self.wait):
            raise Busy(f"the server is busy {self.what} (all {self.count} turns stayed taken for {self.wait:g} s); "
                       "try again in a moment", retry_after=max(1, round(self.wait / 4)))
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth = depth
            if depth == 0:
                self._free.release()
