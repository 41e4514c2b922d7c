"""labgate-models evaluate on real photos: the figures, their agreement with the run-time pipeline and
with a direct computation, and the report folders."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import pytest

from models.calibration import cross_validated_accuracy
from models.datasets import image_files, people
from models.images import read_image
from models.tools.evaluate import evaluate_people
from tests.models.conftest import PairRun
from tests.models.toolkit import assert_report_renders, lfw_people_set, link_subset, photo_engine, run_cli

PLOTS = {"roc.png", "scores.png", "confusion.png", "tsne.png"}


def test_evaluate_pairs_on_lfw_fold1_reproduces_the_runtime_pipeline(
        model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        lfw_fold1_runtime: PairRun) -> None:
    fold1 = data_dir / "lfw_fold1"
    started = time.monotonic()
    out, summary = run_cli(capsys, "evaluate", "pairs", "--pairs", str(fold1 / "pairs_fold1.txt"),
                           "--images", str(fold1 / "images_flat"), "--report", str(tmp_path / "report"))
    seconds = time.monotonic() - started
    print(out.splitlines()[:4], f"{seconds:.0f} s")
    for key in ("accuracy", "accuracy_std", "auc", "eer", "eer_threshold", "roc", "tar_at_far", "detection"):
        assert key in summary, key
    assert set(summary["tar_at_far"]) == {"0.01", "0.001", "0.0001"}
    assert summary["pairs"] == 600 and summary["genuine"] == 300 and summary["folds"] == 10
    assert summary["detection"]["photos"] == 807
    assert summary["accuracy"] >= 0.985 and 0.99 <= summary["auc"] <= 1.0
    assert 0 <= summary["eer"] < 0.03
    # 300 different pairs cannot resolve FAR 1e-3; every labelled pair of the 807 photos can
    assert not summary["tar_at_far"]["0.001"]["resolved"]
    assert all(v["resolved"] for v in summary["all_pairs"]["tar_at_far"].values())

    # The run-time pipeline, photo by photo through FaceEngine.embed_photo, gives every score the report
    # lists, and the accuracy within 0.1 point (issue 7): the same figure, whichever tool measures it.
    rows = list(csv.DictReader((tmp_path / "report" / "pair_scores.csv").open()))
    scores = np.array([float(r["score"]) for r in rows])
    same = np.array([r["same"] == "1" for r in rows])
    folds = np.array([int(r["fold"]) for r in rows])
    assert cross_validated_accuracy(scores, same, folds)[0] == pytest.approx(summary["accuracy"], abs=1e-4)
    runtime = lfw_fold1_runtime
    assert [(r["a"], r["b"]) for r in rows] == [(f"{p.a.parent.name}/{p.a.name}", f"{p.b.parent.name}/{p.b.name}")
                                                for p in runtime.pairs]
    assert np.array_equal(same, runtime.same)
    assert np.abs(scores - runtime.scores).max() <= 1e-4
    print(f"evaluate {summary['accuracy'] * 100:.2f} %, run-time pipeline {runtime.accuracy * 100:.2f} %")
    assert abs(summary["accuracy"] - runtime.accuracy) <= 0.001
    assert_report_renders(tmp_path / "report", PLOTS)


def test_evaluate_people_runs_on_lfw_people_and_att_faces(
        model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # lfw_people through the command's own function (its photos are shared with the calibrate test;
    # the command line itself runs below on att_faces and on a subset of lfw_people)
    summary = evaluate_people(photo_engine(), lfw_people_set(data_dir), 4, tmp_path / "lfw")
    assert summary["enrolled"] == 25 and summary["known_probes"] == 200 and summary["stranger_probes"] == 200
    assert summary["rank1"] >= 0.98
    assert set(summary["fnir_at_fpir"]) == {"0.01", "0.003"}
    assert summary["decisions"]["known"]["wrong_person"] == 0
    counts = np.array(summary["confusion"]["counts"])
    assert counts.sum() == 400 and counts[:-1, :-3].trace() == summary["decisions"]["known"]["accept"]
    assert_report_renders(tmp_path / "lfw", PLOTS)

    att = data_dir / "att_faces"
    _, summary = run_cli(capsys, "evaluate", "people", "--known", str(att), "--enrol", "1",
                         "--report", str(tmp_path / "att"))
    held = len(summary["held_out_as_strangers"])
    assert held == 8 and summary["enrolled"] == 32
    assert summary["known_probes"] == 32 * 9 and summary["stranger_probes"] == held * 10
    assert summary["rank1"] >= 0.97  # grey 92x112 photos, one photo enrolled
    failed = summary["detection"]["failed"]
    assert summary["detection"]["photos"] == 400 and failed == len(summary["detection"]["failures"])
    no_face = summary["decisions"]["known"]["no_face"] + summary["decisions"]["strangers"]["no_face"]
    assert no_face <= failed  # every search without a face is one of the listed failures
    assert_report_renders(tmp_path / "att", PLOTS)


def test_evaluate_people_agrees_with_a_direct_computation(
        model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = people(data_dir / "lfw_people" / "known")
    chosen = sorted(source)[:4]
    for name in chosen:
        link_subset(tmp_path / "known" / name, source[name])
    strangers = image_files(data_dir / "lfw_people" / "unknown")[:20]
    link_subset(tmp_path / "unknown", strangers)
    enrol = 3
    _, summary = run_cli(capsys, "evaluate", "people", "--known", str(tmp_path / "known"), "--unknown",
                         str(tmp_path / "unknown"), "--enrol", str(enrol), "--report", str(tmp_path / "report"))

    # Directly: each photo through FaceEngine.embed_photo, each person's score the best of its templates.
    engine = photo_engine()
    t = engine.thresholds_for(len(chosen))  # the kiosk's τ for a gallery of that many people

    def embed(path: Path) -> np.ndarray:
        result = engine.embed_photo(read_image(path), check_quality=False)
        assert result.embedding is not None
        return result.embedding

    templates = {name: [embed(p) for p in source[name][:enrol]] for name in chosen}
    searches = [(p, name) for name in chosen for p in source[name][enrol:]] + [(p, None) for p in strangers]
    outcomes = {"known": dict.fromkeys(("accept", "wrong_person", "look_again", "unknown", "no_face"), 0),
                "strangers": dict.fromkeys(("accept", "look_again", "unknown", "no_face"), 0)}
    right, best_of_stranger, known_best = 0, [], []
    for path, truth in searches:
        vector = embed(path)
        per_person = {name: max(float(vector @ v) for v in vs) for name, vs in templates.items()}
        ranked = sorted(per_person.items(), key=lambda kv: -kv[1])
        (top, best), second = ranked[0], ranked[1][1]
        if best < t.unknown:
            outcome = "unknown"
        elif best >= t.accept and best - second >= t.margin:
            outcome = "accept" if truth is None or top == truth else "wrong_person"
        else:
            outcome = "look_again"
        outcomes["known" if truth else "strangers"][outcome] += 1
        if truth is None:
            best_of_stranger.append(best)
        else:
            right += top == truth
            known_best.append((top == truth, best))
    known_n = len(searches) - len(strangers)
    assert summary["known_probes"] == known_n and summary["stranger_probes"] == len(strangers)
    assert summary["rank1"] == pytest.approx(right / known_n, abs=1e-4)
    assert summary["decisions"]["known"] == outcomes["known"]
    assert summary["decisions"]["strangers"] == outcomes["strangers"]
    for fpir, reported in summary["fnir_at_fpir"].items():
        allowed = math.floor(float(fpir) * len(best_of_stranger))  # strangers allowed at or above τ
        tau = sorted(best_of_stranger, reverse=True)[allowed] + 1e-6
        misses = sum(1 for hit, best in known_best if not (hit and best >= tau))
        assert reported["fnir"] == pytest.approx(misses / known_n, abs=1e-4), fpir
    assert_report_renders(tmp_path / "report", PLOTS)


def test_compare_preprocessing_chooses_on_dev_and_reports_on_test(
        model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = people(data_dir / "lfw_people" / "known")
    for name in sorted(source)[:5]:
        link_subset(tmp_path / "dev" / name, source[name][:4])
    centre = link_subset(tmp_path / "centre", image_files(data_dir / "deepface_pairs")[:30])  # as the build: unrelated
    micro = data_dir / "lfw_micro"
    lines = (micro / "pairs_micro.tsv").read_text().splitlines()
    (tmp_path / "pairs.tsv").write_text("\n".join(lines[:21] + lines[-20:]) + "\n")  # 20 same, 20 different
    out, summary = run_cli(capsys, "evaluate", "pairs", "--pairs", str(tmp_path / "pairs.tsv"), "--images",
                           str(micro / "images_flat"), "--compare-preprocessing", "--dev", str(tmp_path / "dev"),
                           "--centre-from", str(centre), "--variants", "margin 32,eye-roll 32 + flip",
                           "--report", str(tmp_path / "report"))
    assert summary["pairs"] == 40 and summary["genuine"] == 20
    compared = summary["preprocessing"]
    names = [v["name"] for v in compared["variants"]]
    assert names == ["eye-roll 32", "margin 32", "eye-roll 32 + flip"]  # the current default is always compared
    assert compared["current_default"] == "eye-roll 32"
    # The winner follows the stated rule, recomputed here from the reported dev figures and costs:
    # within the cost budget, the best dev AUC; ties (within the noise band) to the cheapest, then to
    # the current default, then to the higher AUC. Test figures play no part.
    rule, variants = compared["rule"], {v["name"]: v for v in compared["variants"]}
    assert variants["eye-roll 32"]["cost"]["ratio"] == 1.0  # the plain variant: current crop, one pass
    assert variants["eye-roll 32 + flip"]["cost"]["ratio"] > 1.5  # two network passes per face
    eligible = [v for v in variants.values() if v["cost"]["ratio"] <= rule["cost_budget"]]
    assert {v["name"] for v in eligible} == {n for n, v in variants.items() if v["cost"]["within_budget"]}
    top = max(v["dev"]["auc"] for v in eligible)
    tied = [v for v in eligible if v["dev"]["auc"] >= top - rule["auc_noise"]]
    cheapest = min(v["cost"]["ratio"] for v in tied)
    cheap = [v for v in tied if v["cost"]["ratio"] <= cheapest * (1 + rule["cost_noise"])]
    expected = "eye-roll 32" if "eye-roll 32" in {v["name"] for v in cheap} else max(
        cheap, key=lambda v: (v["dev"]["auc"], v["dev"]["tar_at_far_1e-3"]))["name"]
    assert compared["dev_winner"] == expected != "eye-roll 32 + flip"
    assert compared["default_confirmed"] == (expected == "eye-roll 32")
    assert compared["chosen_by"] in compared["verdict"] and f"chosen: {expected}" in compared["verdict"]
    assert compared["dev_sets"] == {str(tmp_path / "dev"): 20 * 19 // 2}
    for variant in compared["variants"]:
        assert 0.9 <= variant["test"]["auc"] <= 1.0 and 0.9 <= variant["dev"]["auc"] <= 1.0
    assert "eye-roll 32 + flip" in out and compared["verdict"] in out
    markdown = (tmp_path / "report" / "summary.md").read_text()
    assert "Preprocessing compared" in markdown and "margin 32" in markdown
    assert_report_renders(tmp_path / "report", PLOTS)
