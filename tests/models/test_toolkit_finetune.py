"""labgate-models finetune on att_faces, split by identity: a new model that works in the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import catalog
from models.datasets import image_files, people
from models.engine import EngineSettings, FaceEngine
from models.images import read_image
from tests.models.toolkit import assert_report_renders, link_subset, run_cli, sha256s


def _calibration_data(data_dir: Path, root: Path) -> Path:
    """A small stand-in for the build's data (strangers to centre on, LFW photos for thresholds)."""
    link_subset(root / "lfw_people" / "unknown", image_files(data_dir / "lfw_people" / "unknown")[:24])
    link_subset(root / "lfw_fold1" / "images_flat", image_files(data_dir / "lfw_fold1" / "images_flat")[:48])
    (root / "lfw_fold1" / "pairs_fold1.txt").symlink_to(data_dir / "lfw_fold1" / "pairs_fold1.txt")
    return root


def test_finetune_on_att_faces_makes_a_new_model_the_engine_uses(
        model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sha256s(model_dir)
    att = people(data_dir / "att_faces")
    for name in sorted(att)[:10]:
        link_subset(tmp_path / "att" / name, att[name])
    out = tmp_path / "model"
    stdout, summary = run_cli(
        capsys, "finetune", "--data", str(tmp_path / "att"), "--out", str(out), "--epochs", "2", "--views", "2",
        "--holdout", "0.3", "--val", "0.2", "--people-per-batch", "4", "--photos-per-person", "3",
        "--calibration-data", str(_calibration_data(data_dir, tmp_path / "data")))
    split = summary["split"]
    assert len(split["held_out"]) == 3 and len(split["validation"]) == 2 and len(split["train"]) == 5
    assert not set(split["held_out"]) & (set(split["train"]) | set(split["validation"]))
    assert summary["history"]["epoch"] == [0, 1, 2]
    for side in ("before", "after"):
        figures = summary["held_out"][side]
        assert figures["genuine"] == 3 * 45 or summary["photos_without_face"]
        assert 0.9 <= figures["auc"] <= 1.0 and figures["rank1_one_shot"] is not None
    assert "pre-trained" in stdout and "fine-tuned" in stdout and "rank-1, one photo enrolled" in stdout

    new_id, base_id = summary["new_model"]["model_id"], summary["base_model"]["model_id"]
    assert new_id != base_id and new_id.startswith("facenet-casia-ft.fp32.")
    info = subprocess.run([sys.executable, "-m", "models.cli", "--models", str(out), "info",
                           summary["new_model"]["file"]], capture_output=True, text=True, check=True,
                          env={**os.environ})
    manifest = json.loads(info.stdout)
    assert manifest["model_id"] == new_id and manifest["kind"] == "embedder" and manifest["thresholds"]
    assert base_id in manifest["weights_source"] and manifest["alignment"]["method"] == "eye-roll"
    assert manifest["file"]["sha256"] == catalog.read_index(out)["files"][summary["new_model"]["file"]]

    # The engine (as the kiosk builds it) embeds and identifies with the new model.
    engine = FaceEngine(EngineSettings(model_dir=out, face_selection="centre"))
    assert engine.model_id == new_id
    gallery = engine.new_gallery()
    held = split["held_out"]
    for name in held:
        result = engine.embed_photo(read_image(att[name][0]), check_quality=False)
        assert result.embedding is not None
        gallery.add(name, result.embedding, engine.model_id)
    probe = engine.embed_photo(read_image(att[held[0]][5]), check_quality=False).embedding
    assert probe is not None
    decision = engine.identify(probe, gallery)
    assert decision.candidate == held[0] and decision.score > 0.5
    assert sha256s(model_dir) == before, "the source models must not change"
    assert_report_renders(Path(summary["report"]), {"training.png", "roc.png", "scores.png", "confusion.png",
                                                     "tsne.png"})
    assert "| held-out people | pre-trained | fine-tuned |" in (Path(summary["report"]) / "summary.md").read_text()
