"""The two checks before an enrolment is saved, on L2-normalised embeddings of one model.

Consistency: the shots must show one person. The shots are grouped by average linkage (the two
groups with the highest mean similarity join first); if the last two groups to join have a mean
similarity below [enrol] consistency, the shots show two people. The default, 0.28, is the
equal-error point on a development set (lfw_fold1 without the lfw_people people, FaceNet-CASIA):
2.1 % of real 3-4 photo sets refused, 2.1 % of two-person mixes missed. Photos of one person taken
years apart can match each other as little as 0.3; shots taken at the door a few seconds apart
match far higher.

Duplicate: the shots must not match another enrolled person above τ_accept. The enrolment's mean
face (the normalised mean of its shot embeddings) is matched like a door probe against every other
person's templates; a person it reaches τ_accept with collides. On lfw_people (the kiosk's INT8
FaceNet, each person's first four photos enrolled) the mean face of four of a person's other photos
scored 0.60-0.92 against their own templates and at most 0.42 against anyone else's, where single
photos overlap (down to 0.40 genuine, up to 0.48 impostor). One comparison per person, like one door
frame, so a big gallery does not make chance collisions more likely than it makes false accepts.
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


@dataclass(frozen=True)
class Collision:
    """An enrolled person the new shots match: their number, the mean face's best score against
    their templates, and how many single shots reached τ_accept."""

    number: str
    score: float
    shots: int


def mean_face(vectors: np.ndarray) -> np.ndarray:
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


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


def collisions(vectors: np.ndarray, gallery: dict[str, np.ndarray], threshold: float) -> list[Collision]:
    """Enrolled people (``gallery``: number -> (T, D) templates of the same model) whose templates the
    shots' mean face matches at ``threshold`` or above, best first."""
    shots = np.asarray(vectors, dtype=np.float32)
    probe = mean_face(shots)
    found = []
    for number, templates in gallery.items():
        if len(templates) == 0:
            continue
        score = float((templates @ probe).max())
        if score >= threshold:
            singles = int(((shots @ templates.T).max(axis=1) >= threshold).sum())
            found.append(Collision(number, score, singles))
    return sorted(found, key=lambda c: -c.score)


def near_identical(vector: np.ndarray, previous: list[np.ndarray], threshold: float) -> int | None:
    """The index of an earlier shot ``vector`` is nearly identical to (cosine >= ``threshold``), or None."""
    if not previous:
        return None
    scores = np.stack(previous) @ np.asarray(vector, dtype=np.float32)
    best = int(np.argmax(scores))
    return best if float(scores[best]) >= threshold else None
