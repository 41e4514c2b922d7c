"""A one-line progress bar on stderr for long imports (the kiosk's run-time has no tqdm). On a terminal
it redraws in place; otherwise (a log, a pipe) it prints a line every 10 %."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1

    def __call__(self, done: int, total: int, what: str) -> None:
        total = max(total, 1)
        fraction = min(done / total, 1.0)
        elapsed = time.monotonic() - self.started
        left = elapsed / fraction - elapsed if fraction > 0 else 0.0
        line = f"{self.label} {done}/{total} [{'#' * int(fraction * self.width):<{self.width}}] " \
               f"{fraction:4.0%} {elapsed:.0f}s, {left:.0f}s left  {what}"
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
            if done >= total:
                self.stream.write("\n")
        elif int(fraction * 10) > self._last_tenth or done >= total:
            self._last_tenth = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()
