"""Enrolment's checks on L2-normalised embeddings of one model. The rules shared with the server (one
person: ``split``; nobody else: ``models.duplicates``) live in ``models.enrolment``.

Consistency: the shots must show one person (``split`` at [enrol] consistency, default 0.32). Photos
of one person taken years apart can match each other as little as 0.3; shots taken at the door a few
seconds apart match far higher.

Near-identical: a shot that repeats an earlier one (the same pose and light) is not counted twice.
"""

from __future__ import annotations

import numpy as np

from models.enrolment import Split, split

__all__ = ["Split", "near_identical", "split"]


def near_identical(vector: np.ndarray, previous: list[np.ndarray], threshold: float) -> int | None:
    """The index of an earlier shot ``vector`` is nearly identical to (cosine >= ``threshold``), or None."""
    if not previous:
        return None
    scores = np.stack(previous) @ np.asarray(vector, dtype=np.float32)
    best = int(np.argmax(scores))
    return best if float(scores[best]) >= threshold else None
