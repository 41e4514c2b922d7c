"""Accuracy of the full run-time pipeline (decode, detect, crop, embed, match) on real faces."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from models import demo
from models.calibration import cross_validated_accuracy
from models.datasets import lfw_pairs
from models.engine import NoFace
from models.evaluation import pair_scores
from models.images import read_image


def test_lfw_fold1_accuracy_of_the_runtime_pipeline(engine, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    pairs = lfw_pairs(data_dir / "lfw_fold1" / "pairs_fold1.txt", data_dir / "lfw_fold1" / "images_flat")
    assert len(pairs) == 600
    embeddings = {}
    for path in sorted({p for pair in pairs for p in (pair.a, pair.b)}):
        with contextlib.suppress(NoFace):  # a photo without a face scores -1 and counts against us
            embeddings[path] = engine.embed_photo(read_image(path), check_quality=False).embedding
    scores, same, missing = pair_scores(embeddings, pairs)
    mean, std, _ = cross_validated_accuracy(scores, same)
    print(f"LFW fold 1 ({engine.model_id}): {mean * 100:.2f} % ± {std * 100:.2f} "
          f"(10-fold within the fold, thresholds chosen on the other 9); pairs without a face: {missing}")
    assert mean >= 0.985


def test_lfw_people_open_set_identification(engine, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rows, rejected = demo.run(engine, data_dir / "lfw_people" / "known", data_dir / "lfw_people" / "unknown", enrol=4)
    summary = demo.summary(rows)
    print(f"lfw_people ({engine.model_id}): {summary}")
    assert not rejected
    assert summary["known_probes"] == 25 * 8 and summary["strangers"] == 200
    assert summary["rank1"] >= 0.98
    assert summary["accepted_wrong_person"] == 0
    assert summary["strangers_accepted"] <= 0.01
    # The decision really discriminates: most enrolled people are accepted outright.
    assert summary["accepted_correctly"] >= 0.9
    assert np.isfinite([r.decision.score for r in rows if r.decision]).all()
