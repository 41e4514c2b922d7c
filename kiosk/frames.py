"""What every frame source offers (``open()``, ``read()`` an RGB frame, ``close()``) and how one
fails or ends; the sources themselves are in ``kiosk.sources`` and ``kiosk.scene``."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class SourceError(RuntimeError):
    """The source cannot be opened or stopped giving frames; the camera reopens it with backoff."""


class EndOfStream(Exception):
    """A finite source (file, folder, scene) has no more frames and is not set to loop."""


class FrameSource(Protocol):
    name: str
    live: bool  # paced by the hardware (a camera or stream), else by the reader (file, folder, scene)
    fps: float  # nominal frames per second

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None:
        """The next frame as RGB uint8 (H, W, 3); None when there is none just now (try again).
        Raises SourceError when the source failed, EndOfStream at the end of a finite source."""
        ...

    def close(self) -> None: ...
