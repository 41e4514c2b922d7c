"""labgate-models calibrate: thresholds for a stated false-match rate, written where the kiosk reads them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from device import config as device_config
from models import catalog, metrics
from models.cli import main
from models.engine import FaceEngine
from models.runtime import read_manifest
from models.tools.calibrate import Targets, choose, pool, run
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

    # The kiosk reads them: its own config loader (device.config, the shipped config.toml with [models]
    # dir pointing at the calibrated folder) gives the engine settings the kiosk builds its engine from.
    shipped = (catalog.ROOT / "config.toml").read_text()
    config_file = tmp_path / "config.toml"
    config_file.write_text(re.sub(r'(?m)^dir = "artifacts/models"$', f'dir = "{out}"', shipped, count=1))
    config = device_config.load(config_file)
    assert config.engine.model_dir == out and config.engine.face_selection == "largest"  # the door's settings
    kiosk = FaceEngine(config.engine)  # as kiosk.kiosk.Kiosk makes it
    assert kiosk.thresholds == read_manifest(out / engine.embedder.path.name).thresholds
    assert (kiosk.thresholds.accept, kiosk.thresholds.unknown, kiosk.thresholds.margin) == (
        t["accept"], t["unknown"], t["margin"])
    assert kiosk.model_id == engine.model_id  # same embeddings: enrolled galleries stay valid

    # Measured here, independently of the tool, on the same random enrolments (in sample, as issue 7
    # acceptance 3 states it): the false-match rate per comparison at τ_accept is within 2x the target.
    rng = np.random.default_rng(0)
    impostor = np.concatenate([metrics.person_scores(s.scores, s.truth)[1] for s in
                               (search(engine, photos, random_photos(photos, 4, rng)) for _ in range(10))])
    measured = float((impostor >= kiosk.thresholds.accept).mean())
    m = summary["measured"]
    print(f"τ_accept {t['accept']}: FMR {measured:.3g} over {len(impostor)} comparisons, target {targets.fmr:.3g}; "
          f"distinct pairs {m['distinct_impostor_pairs']}, at or above τ {m['distinct_pairs_at_or_above_accept']}; "
          f"out of sample: {m['cross_check_by_halves']}")
    assert targets.fmr / 2 <= measured <= targets.fmr * 2
    assert measured == pytest.approx(m["fmr_measured"])
    # ... but that is not evidence of the target: rounds repeat the same probe photos against the same
    # people, and lfw_people has about 12,000 distinct (probe, person) impostor pairs, so FMR 1e-4
    # expects about one of them above τ. The tool must say so, for the whole set and for each half.
    distinct_pairs = people * 12 * (people - 1) + strangers * people  # each photo is a probe in some round
    assert m["distinct_impostor_pairs"] <= distinct_pairs and m["distinct_impostor_pairs"] > 0.95 * distinct_pairs
    assert m["resolved"] is False and targets.fmr * m["distinct_impostor_pairs"] < 5
    assert all(not half["resolved"] for half in m["cross_check_by_halves"].values())
    assert sha256s(model_dir) == before, "the source models must not change"
    assert catalog.read_index(out)["default_embedder"] == engine.embedder.path.name
    assert_report_renders(tmp_path / "report", {"scores.png", "fmr.png", "roc.png"})


def test_threshold_chosen_on_half_the_identities_holds_on_the_other_half(data_dir: Path) -> None:
    """Out of sample: τ chosen on the impostor comparisons of one half of the identities gives, on the
    other half's, a false-match rate within 2x the target, at every target lfw_people resolves per half
    (about 6,000 distinct pairs per half: FMR 1e-3 expects ~6 of them above τ, 1e-2 ~60). FMR 1e-4,
    the kiosk's τ_accept target, is beyond the set and must be flagged so (it measured 0 and 2.2x)."""
    engine = photo_engine()
    pooled = pool(engine, lfw_people_set(data_dir), enrol=4, rounds=10, seed=0)
    for fmr in (1e-2, 1e-3, 1e-4):
        _, figures = choose(pooled, Targets(fmr, 1e-2, 0.01), "lfw_people")
        halves = figures["cross_check_by_halves"]
        print(f"FMR {fmr:g}: " + ", ".join(f"{k}: τ {v['threshold']}, {v['ratio_to_target']}x the target over "
                                           f"{v['distinct_pairs']} distinct pairs ({v['distinct_pairs_at_or_above']} "
                                           f"above τ), resolved {v['resolved']}" for k, v in halves.items()))
        assert set(halves) == {"a_to_b", "b_to_a"}
        for half in halves.values():
            assert half["resolved"] == (fmr * half["distinct_pairs"] >= 5)
            assert half["resolved"] == (fmr >= 1e-3)
            if half["resolved"]:
                assert fmr / 2 <= half["fmr_measured"] <= fmr * 2


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
