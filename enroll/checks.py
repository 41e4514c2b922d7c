"""Enrolment's own checks on L2-normalised embeddings of one model (the duplicate-identity rule, shared
with the server, is ``models.duplicates``).

Consistency: the shots must show one person. The shots are grouped by average linkage (the two
groups with the highest mean similarity join first); if the last two groups to join have a mean
similarity below [enrol] consistency, the shots show two people. The default, 0.32, is the
equal-error point on a development set (lfw_fold1 without the lfw_people people, FaceNet-CASIA with
the build's centre): 2.6 % of real 3-4 photo sets refused, 2.8 % of two-person mixes missed. Photos of one person taken
years apart can match each other as little as 0.3; shots taken at the door a few seconds apart
match far higher.

Near-identical: a shot that repeats an earlier one (the same pose and light) is not counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Two groups of shots (indices) that look like different people, and their mean similarity."""

    first: tuple[int, ...]
    second: tuple[int, ...]
    similarity: float


def split(vectors: np.ndarray, threshold: float) -> Split | None:
    """The two groups the shots fall into when they show two people (mean similarity below
    ``threshold``), else None. Fewer than two shots cannot disagree."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if len(matrix) < 2:
        return None
    similarity = matrix @ matrix.T
    groups: list[list[int]] = [[i] for i in range(len(matrix))]
    while len(groups) > 2:
        best = (-2.0, 0, 1)
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                mean = float(similarity[np.ix_(groups[a], groups[b])].mean())
                if mean > best[0]:
                    best = (mean, a, b)
        _, a, b = best
        groups[a] = groups[a] + groups[b]
        del groups[b]
    between = float(similarity[np.ix_(groups[0], groups[1])].mean())
    if between >= threshold:
        return None
    first, second = sorted((tuple(sorted(groups[0])), tuple(sorted(groups[1]))), key=lambda g: (-len(g), g))
    return Split(first, second, between)


def near_identical(vector: np.ndarray, previous: list[np.ndarray], threshold: float) -> int | None:
    """The index of an earlier shot ``vector`` is nearly identical to (cosine >= ``threshold``), or None."""
    if not previous:
        return None
    scores = np.stack(previous) @ np.asarray(vector, dtype=np.float32)
    best = int(np.argmax(scores))
    return best if float(scores[best]) >= threshold else None
