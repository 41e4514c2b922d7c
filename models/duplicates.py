"""The duplicate-identity rule: new face embeddings must not match another enrolled person.

Used wherever a face enters a gallery (the kiosk's enrolment, the server's photo registration), so
one person cannot be enrolled under two numbers. The new shots' mean face (the normalised mean of
their embeddings; for one photo, its embedding) is matched like a door probe against every other
person's templates of the same model; a person it reaches the threshold (τ_accept) with collides.

Why the mean face: on lfw_people (the kiosk's INT8 FaceNet, each person's first four photos
enrolled) the mean face of four of a person's other photos scored 0.60-0.92 against their own
templates and at most 0.42 against anyone else's, where single photos overlap (down to 0.40 genuine,
up to 0.48 impostor). One comparison per person, like one door frame, so a big gallery does not make
chance collisions more likely than it makes false accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Collision:
    """An enrolled person the new shots match: who (the gallery's key), the mean face's best score
    against their templates, and how many single shots reached the threshold."""

    person: str
    score: float
    shots: int


def mean_face(vectors: np.ndarray) -> np.ndarray:
    """The L2-normalised mean of (N, D) embeddings (of one model)."""
    mean = np.atleast_2d(np.asarray(vectors, dtype=np.float32)).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def collisions(vectors: np.ndarray, gallery: Mapping[str, np.ndarray], threshold: float) -> list[Collision]:
    """People of ``gallery`` (person -> (T, D) templates of the same model as ``vectors``, the person
    being enrolled left out) whose templates the mean face of ``vectors`` ((N, D) or one (D,)
    embedding) matches at ``threshold`` or above, best first."""
    shots = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    probe = mean_face(shots)
    found = []
    for person, templates in gallery.items():
        if len(templates) == 0:
            continue
        score = float((templates @ probe).max())
        if score >= threshold:
            singles = int(((shots @ templates.T).max(axis=1) >= threshold).sum())
            found.append(Collision(person, score, singles))
    return sorted(found, key=lambda c: -c.score)
