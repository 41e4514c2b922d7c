"""Embedding whole image sets and scoring pairs: shared by the build, the tools, tests and benches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.align import crop_face
from models.datasets import Pair
from models.detector import Face
from models.engine import FaceEngine, primary_index
from models.images import ImageError, read_image

Progress = Callable[[Iterable[Path]], Iterable[Path]]


@dataclass
class CropSet:
    """Embedder crops of the primary face of each image; images without a usable face are listed."""

    paths: list[Path]
    crops: np.ndarray  # (N, H, W, 3) uint8, one per path in ``paths``
    failures: dict[Path, str] = field(default_factory=dict)  # path -> reason (no face, unreadable)


def crop_images(engine: FaceEngine, paths: Iterable[Path], progress: Progress | None = None) -> CropSet:
    kept, crops, failures = [], [], {}
    for path in progress(paths) if progress else paths:
        found = _primary_face(engine, path)
        if isinstance(found, str):
            failures[path] = found
            continue
        kept.append(path)
        crops.append(engine.embedder.crop(*found))
    return CropSet(kept, _stack(crops, engine.embedder.size), failures)


@dataclass
class FaceSet:
    """The primary face of each image, detected once; crop it any number of ways with ``crop_faces``."""

    paths: list[Path]
    faces: list[Face]
    failures: dict[Path, str] = field(default_factory=dict)


def find_faces(engine: FaceEngine, paths: Iterable[Path], progress: Progress | None = None) -> FaceSet:
    kept, faces, failures = [], [], {}
    for path in progress(paths) if progress else paths:
        found = _primary_face(engine, path)
        if isinstance(found, str):
            failures[path] = found
        else:
            kept.append(path)
            faces.append(found[1])
    return FaceSet(kept, faces, failures)


def crop_faces(found: FaceSet, alignment: dict[str, object], size: tuple[int, int]) -> CropSet:
    """Crops of found faces made as ``alignment`` says (see ``align.crop_face``), images read again."""
    crops = [crop_face(read_image(path), face, alignment, size) for path, face in zip(found.paths, found.faces,
                                                                                       strict=True)]
    return CropSet(list(found.paths), _stack(crops, size), dict(found.failures))


def _primary_face(engine: FaceEngine, path: Path) -> tuple[np.ndarray, Face] | str:
    """The image and its primary face, or why there is none (unreadable, no face)."""
    try:
        rgb = read_image(path)
    except ImageError as exc:
        return str(exc)
    faces = engine.detector.detect(rgb)
    if not faces:
        return "no face found"
    return rgb, faces[primary_index(faces, rgb.shape, engine.settings.face_selection)]


def _stack(crops: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    return np.stack(crops) if crops else np.zeros((0, size[0], size[1], 3), np.uint8)


def pair_scores(embeddings: dict[Path, np.ndarray], pairs: list[Pair]) -> tuple[np.ndarray, np.ndarray, int]:
    """Cosine scores and labels of the pairs; a pair with an image that has no embedding scores -1
    (counted as a failure of the pipeline, never dropped). Also returns how many pairs that was."""
    scores, same, missing = [], [], 0
    for pair in pairs:
        a, b = embeddings.get(pair.a), embeddings.get(pair.b)
        if a is None or b is None:
            missing += 1
            scores.append(-1.0)
        else:
            scores.append(float(a @ b))
        same.append(pair.same)
    return np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool), missing


def identity_of(path: Path) -> str:
    """LFW-style identity: the folder name, or for flat ``Name_NNNN.jpg`` the part before the number."""
    stem = path.stem
    head, _, number = stem.rpartition("_")
    return head if number.isdigit() and head else path.parent.name


def all_pair_scores(embeddings: np.ndarray, identities: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor scores over every unordered pair of a labelled set."""
    labels = np.asarray(identities)
    scores = embeddings @ embeddings.T
    upper = np.triu_indices(len(labels), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    values = scores[upper]
    return values[same], values[~same]
