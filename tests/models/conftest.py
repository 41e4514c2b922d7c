"""Shared, expensive results of the run-time pipeline, computed once per test session."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from models.calibration import cross_validated_accuracy
from models.datasets import Pair, lfw_pairs
from models.engine import NoFace
from models.evaluation import pair_scores
from models.images import read_image
from tests.models.toolkit import photo_engine


@dataclass(frozen=True)
class PairRun:
    pairs: list[Pair]
    scores: np.ndarray  # one cosine per pair, in the pairs file's order (-1 where a photo had no face)
    same: np.ndarray
    accuracy: float
    std: float
    missing: int
    model_id: str


@pytest.fixture(scope="session")
def lfw_fold1_runtime(data_dir: Path) -> PairRun:
    """LFW fold 1 through the run-time pipeline, photo by photo (decode, detect, crop, embed): the
    engine of config.toml as the photo tools use it (the centred face, faces down to 20 px)."""
    engine = photo_engine()
    fold1 = data_dir / "lfw_fold1"
    pairs = lfw_pairs(fold1 / "pairs_fold1.txt", fold1 / "images_flat")
    embeddings = {}
    for path in sorted({p for pair in pairs for p in (pair.a, pair.b)}):
        with contextlib.suppress(NoFace):  # a photo without a face scores -1 and counts against us
            embeddings[path] = engine.embed_photo(read_image(path), check_quality=False).embedding
    scores, same, missing = pair_scores(embeddings, pairs)
    mean, std, _ = cross_validated_accuracy(scores, same)
    return PairRun(pairs, scores, same, mean, std, missing, engine.model_id)
