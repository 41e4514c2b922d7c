"""labgate-models calibrate: thresholds for a stated false-match rate, written where the kiosk reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models import catalog, metrics
from models.cli import main
from models.engine import FaceEngine
from models.runtime import read_manifest
from models.settings import engine_settings
from models.tools.calibrate import Targets, run
from models.tools.searches import random_photos, search
from tests.models.toolkit import assert_report_renders, lfw_people_set, link_subset, photo_engine, run_cli, sha256s


def test_calibrate_on_lfw_people_writes_thresholds_the_kiosk_reads(
        model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    before = sha256s(model_dir)
    engine = photo_engine()
    photos = lfw_people_set(data_dir)
    targets = Targets.from_fpir(0.01, 100, 1e-2, 0.01)  # the command's defaults
    out = tmp_path / "calibrated"
    summary = run(engine, photos, targets, enrol=4, rounds=10, seed=0, out=out, folder=tmp_path / "report")
    t = summary["thresholds"]
    assert -1 <= t["unknown"] <= t["accept"] <= 1 and t["margin"] >= 0
    people, strangers = len(photos.people), len(photos.strangers)
    comparisons = 10 * (people * (12 - 4) * (people - 1) + strangers * people)  # every search, every other person
    assert summary["measured"]["impostor_comparisons"] == comparisons
    assert "lfw_people" in t["calibrated_on"] and f"{comparisons} impostor" in t["calibrated_on"]

    # The kiosk builds its engine from config.toml: [models] dir pointing at the calibrated folder is
    # enough for it to use them (no [decision] override).
    kiosk = FaceEngine(engine_settings({"models": {"dir": str(out)}}, base=tmp_path))
    assert kiosk.thresholds == read_manifest(out / engine.embedder.path.name).thresholds
    assert (kiosk.thresholds.accept, kiosk.thresholds.unknown, kiosk.thresholds.margin) == (
        t["accept"], t["unknown"], t["margin"])
    assert kiosk.model_id == engine.model_id  # same embeddings: enrolled galleries stay valid

    # Measured here, independently of the tool: the false-match rate per comparison at τ_accept over
    # the same random enrolments is within a factor of 2 of the target.
    rng = np.random.default_rng(0)
    impostor = np.concatenate([metrics.person_scores(s.scores, s.truth)[1] for s in
                               (search(engine, photos, random_photos(photos, 4, rng)) for _ in range(10))])
    measured = float((impostor >= kiosk.thresholds.accept).mean())
    print(f"τ_accept {t['accept']}: FMR {measured:.3g} over {len(impostor)} comparisons, target {targets.fmr:.3g}")
    assert targets.fmr / 2 <= measured <= targets.fmr * 2
    assert measured == pytest.approx(summary["measured"]["fmr_measured"])
    assert sha256s(model_dir) == before, "the source models must not change"
    assert catalog.read_index(out)["default_embedder"] == engine.embedder.path.name
    assert_report_renders(tmp_path / "report", {"scores.png", "fmr.png", "roc.png"})


def test_calibrate_command_line_on_a_small_set(model_dir: Path, data_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = data_dir / "att_faces"
    for person in sorted(p.name for p in source.iterdir() if p.is_dir())[:10]:
        link_subset(tmp_path / "known" / person, sorted((source / person).glob("*.pgm")))
    out = tmp_path / "models"
    _, summary = run_cli(capsys, "calibrate", "--known", str(tmp_path / "known"), "--enrol", "2", "--rounds", "3",
                         "--target-fmr", "0.01", "--out", str(out), "--report", str(tmp_path / "report"))
    assert summary["target"]["fmr"] == 0.01 and summary["measured"]["impostor_comparisons"] > 1000
    stored = read_manifest(Path(summary["written"])).thresholds
    assert stored is not None and stored.accept == summary["thresholds"]["accept"]
    result = main_info(out, Path(summary["written"]).name, capsys)
    assert result["thresholds"]["accept"] == summary["thresholds"]["accept"]
    with pytest.raises(SystemExit):  # --out or --in-place must be said
        run_cli(capsys, "calibrate", "--known", str(tmp_path / "known"))
    capsys.readouterr()


def main_info(folder: Path, name: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``labgate-models --models FOLDER info NAME``, parsed."""
    assert main(["--models", str(folder), "info", name]) == 0
    info: dict[str, Any] = json.loads(capsys.readouterr().out)
    return info
