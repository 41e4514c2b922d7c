"""Accuracy of the full run-time pipeline (decode, detect, crop, embed, match) on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models import demo
from tests.models.conftest import PairRun


def test_lfw_fold1_accuracy_of_the_runtime_pipeline(lfw_fold1_runtime: PairRun) -> None:
    run = lfw_fold1_runtime
    assert len(run.pairs) == 600
    print(f"LFW fold 1 ({run.model_id}): {run.accuracy * 100:.2f} % ± {run.std * 100:.2f} "
          f"(10-fold within the fold, thresholds chosen on the other 9); pairs without a face: {run.missing}")
    assert run.accuracy >= 0.985


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
