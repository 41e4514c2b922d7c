"""The rules a face must pass to enter a gallery, shared by the kiosk's enrolment (``enroll``) and the
server's photo registration, so that both decide alike on the same photos.

- Which face of a photo, and how it is found: ``photo_view`` (the centred face, detected with
  ``PHOTO_MIN_FACE`` on a copy of at most ``detect_max_side``), then the engine's quality gate.
- One person: ``split`` groups shots by average linkage; when the last two groups to join match
  below the consistency threshold (``CONSISTENCY``), they are two people. A photo added to someone
  already enrolled is judged with their templates: ``split`` of the templates and the new photo.
- Nobody else: ``models.duplicates.collisions`` (the mean face against every other person at τ_accept).

Why ``PHOTO_MIN_FACE`` is fixed here rather than taken from a kiosk's [detector] min_face (a door
setting): a photo must get the same verdict at any kiosk and on the server. MTCNN finds a slightly
different set of background faces with another smallest face (8 of 300 lfw_people photos changed
between 20 and 40, most of them `several_faces`); 40 is the kiosk's shipped value.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from models.engine import FaceEngine

PHOTO_MIN_FACE = 40
CONSISTENCY = 0.32
"""The default consistency threshold: the equal-error point on a development set (lfw_fold1 without
the lfw_people people, the shipped FaceNet with the build's centre): 2.6 % of real 3-4 photo sets
refused, 2.8 % of two-person mixes missed. Another model or centre needs its own value."""


def photo_view(engine: FaceEngine) -> FaceEngine:
    """The same engine (sharing its loaded networks) judging photos as every enrolment does: the
    centred face (a portrait's subject; at the door the nearest, largest one), ``PHOTO_MIN_FACE``."""
    settings = replace(engine.settings, face_selection="centre",
                       detector=replace(engine.settings.detector, min_face=PHOTO_MIN_FACE, scale=1.0))
    if settings == engine.settings:
        return engine
    view = copy.copy(engine)
    view.settings = settings
    return view


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


def fits(new: np.ndarray, own: np.ndarray, threshold: float) -> Split | None:
    """Does a new photo's embedding belong with a person's own templates (T, D)? None when it does, else
    the split of templates and photo (the photo is the last index). Judged as a capture of all of them
    would be, so a photo a folder import refuses in a mix is refused here too."""
    templates = np.atleast_2d(np.asarray(own, dtype=np.float32))
    if len(templates) == 0 or templates.shape[1] == 0:
        return None
    return split(np.vstack([templates, np.atleast_2d(np.asarray(new, dtype=np.float32))]), threshold)
