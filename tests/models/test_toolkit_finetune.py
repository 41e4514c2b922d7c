"""labgate-models finetune on att_faces, split by identity: a new model that works in the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from models import catalog
from models.cli import PHOTO_MIN_FACE
from models.datasets import image_files, people
from models.detector import DetectorSettings
from models.engine import EngineSettings, FaceEngine
from models.evaluation import find_faces
from models.images import read_image
from tests.models.toolkit import assert_report_renders, link_subset, run_cli, sha256s


def _calibration_data(data_dir: Path, root: Path) -> Path:
    """A small stand-in for the build's data (unrelated faces to centre on, LFW photos for thresholds)."""
    link_subset(root / "deepface_pairs", image_files(data_dir / "deepface_pairs")[:24])
    link_subset(root / "lfw_fold1" / "images_flat", image_files(data_dir / "lfw_fold1" / "images_flat")[:48])
    (root / "lfw_fold1" / "pairs_fold1.txt").symlink_to(data_dir / "lfw_fold1" / "pairs_fold1.txt")
    return root


def _weights_by_block(path: Path) -> dict[str, list[np.ndarray]]:
    """The ONNX file's weights grouped by InceptionResnetV1 block (from the node names), in graph order."""
    model = onnx.load(str(path))
    initialisers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    blocks: dict[str, list[np.ndarray]] = {}
    for node in model.graph.node:
        block = node.name.split("/")[1] if node.name.count("/") >= 2 else node.name.strip("/")
        blocks.setdefault(block, []).extend(initialisers[n] for n in node.input if n in initialisers)
    return {block: arrays for block, arrays in blocks.items() if arrays}


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
    # Every pair of the held-out photos with a face (found here with the tool's detector settings).
    base = FaceEngine(EngineSettings(model_dir=model_dir, face_selection="centre",
                                     detector=DetectorSettings(min_face=PHOTO_MIN_FACE)))
    faces = [len(find_faces(base, att[name]).paths) for name in split["held_out"]]
    photos = sum(faces)
    genuine = sum(n * (n - 1) // 2 for n in faces)
    assert summary["photos"]["held_out"] == photos
    for side in ("before", "after"):
        figures = summary["held_out"][side]
        assert (figures["pairs"], figures["genuine"]) == (photos * (photos - 1) // 2, genuine)
        assert 0.9 <= figures["auc"] <= 1.0 and figures["rank1_one_shot"] is not None

    # Training changed the network: its trainable blocks differ from the base model's, the frozen ones not.
    assert summary["new_model"]["weights_unchanged"] is False, "no epoch beat the pre-trained weights"
    base_file = next(n for n in catalog.read_index(model_dir)["files"] if n.endswith(".fp32.onnx"))
    before_weights = _weights_by_block(model_dir / base_file)
    after_weights = _weights_by_block(out / summary["new_model"]["file"])
    assert before_weights.keys() == after_weights.keys()
    changed = {block for block in before_weights if any(
        not np.array_equal(a, b) for a, b in zip(before_weights[block], after_weights[block], strict=True))}
    trained = {"mixed_7a", "repeat_3", "block8", "last_linear", "last_bn"} & set(before_weights)  # --train-from
    assert changed and changed <= trained, f"changed blocks {sorted(changed)}; trainable {sorted(trained)}"
    assert "pre-trained" in stdout and "fine-tuned" in stdout and "rank-1, one photo enrolled" in stdout

    new_id, base_id = summary["new_model"]["model_id"], summary["base_model"]["model_id"]
    assert new_id != base_id and new_id.startswith("facenet-casia-ft.fp32.")
    info = subprocess.run([sys.executable, "-m", "models.cli", "--models", str(out), "info",
                           summary["new_model"]["file"]], capture_output=True, text=True, check=True,
                          env={**os.environ})
    manifest = json.loads(info.stdout)
    assert manifest["model_id"] == new_id and manifest["kind"] == "embedder" and manifest["thresholds"]
    assert base_id in manifest["weights_source"] and manifest["alignment"]["method"] == "eye-roll"
    # The new model's centre is its own network's mean over the calibration data's unrelated faces.
    assert manifest["alignment"]["embedding_mean_from"].startswith("deepface_pairs 24")
    assert manifest["thresholds"]["calibrated_on"].startswith("lfw_fold1 without the 0 people of lfw_people")
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
