"""Liveness models: the network written from the checkpoints loads strictly and its ONNX export agrees
with torch; the published crop; the three sample photos; calibrate-pad and evaluate pad on real frames."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import catalog
from models.detector import Detector, DetectorSettings
from models.engine import primary_index
from models.images import read_image
from models.liveness import Liveness, LivenessChecker, window
from models.runtime import read_manifest

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def checker(model_dir: Path) -> LivenessChecker:
    if not catalog.read_index(model_dir).get("pad"):
        pytest.skip(f"no liveness models in {model_dir}: `labgate-models build` with LABGATE_DATA makes them")
    return LivenessChecker.from_dir(model_dir)


@pytest.fixture(scope="module")
def detector(model_dir: Path) -> Detector:
    return Detector(model_dir, DetectorSettings(min_face=20))


def _largest(detector: Detector, path: Path) -> tuple[np.ndarray, object]:
    rgb = read_image(path)
    faces = detector.detect(rgb)
    return rgb, faces[primary_index(faces, rgb.shape, "largest")]


def test_the_sample_photos_come_out_as_their_names_say(checker: LivenessChecker, detector: Detector,
                                                       data_dir: Path) -> None:
    """Acceptance 1. F = attack, T = live. A score in the grey zone is not live: the door asks for a head
    turn, which a photo cannot make (tests/kiosk/test_liveness.py)."""
    judged = {}
    for name in ("image_F1.jpg", "image_F2.jpg", "image_T1.jpg"):
        rgb, face = _largest(detector, data_dir / "pad" / name)
        judged[name] = checker.judge(checker.score(rgb, face))  # type: ignore[arg-type]
    assert judged["image_T1.jpg"] is Liveness.LIVE
    assert judged["image_F2.jpg"] is Liveness.ATTACK
    assert judged["image_F1.jpg"] is not Liveness.LIVE


def test_the_manifest_says_how_to_feed_the_model(checker: LivenessChecker) -> None:
    scales = sorted(m.settings["crop_scale"] for m in checker.models)
    assert scales == [2.7, 4.0]
    for model in checker.models:
        m = model.manifest
        assert (m.kind, m.input_size, m.colour, m.mean, m.std) == ("pad", (80, 80), "BGR", 0.0, 1.0)
        assert model.settings["live_class"] == 1
        assert 0 < model.settings["threshold"] <= model.settings["grey_top"] < 1
        assert "live faces" in model.settings["calibrated_on"]


def test_the_crop_window_is_scaled_capped_and_moved_inside_the_frame() -> None:
    box = np.array([100, 100, 200, 200], dtype=np.float32)
    assert window(box, (1000, 1000, 3), 2.7) == (15, 15, 286, 286)  # 270 px about the centre
    x1, y1, x2, y2 = window(np.array([0, 0, 100, 100], dtype=np.float32), (1000, 1000, 3), 2.7)
    assert (x1, y1) == (0, 0) and x2 - x1 == y2 - y1 == 271, "moved inside at the edge, not cut"
    x1, y1, x2, y2 = window(np.array([300, 100, 500, 400], dtype=np.float32), (480, 720, 3), 4.0)
    assert min(x1, y1) >= 0 and x2 <= 720 and y2 <= 480, "capped so it fits the frame"
    assert y2 - y1 >= 478


def test_the_crop_window_is_the_published_one_for_the_published_detectors_boxes() -> None:
    """The upstream pipeline's crop rectangles (inclusive corners) for its own detector's boxes (x, y, w, h)
    on the three 480x640 sample photos, as recorded from its code; ours are exclusive at the far edge."""
    for (x, y, w, h), (left, top, right, bottom) in (((106, 147, 207, 213), (0, 7, 479, 499)),
                                                     ((178, 136, 223, 225), (0, 6, 479, 490)),
                                                     ((120, 252, 252, 256), (0, 136, 479, 623))):
        box = np.array([x, y, x + w, y + h], dtype=np.float32)
        assert window(box, (640, 480, 3), 2.7) == (left, top, right + 1, bottom + 1)


def test_the_activation_is_prelu_exactly(data_dir: Path) -> None:
    """The network computes PReLU as max(x, slope * x) (faster in onnxruntime): the same numbers, bit for bit."""
    import torch

    from models.tools.minifasnet import SlopedMax, minifasnet

    net = minifasnet(data_dir / "pad" / "4_0_0_80x80_MiniFASNetV1SE.pth")
    units = [m for m in net.modules() if isinstance(m, SlopedMax)]
    assert len(units) > 20
    x = torch.from_numpy(np.random.default_rng(3).normal(0, 50, (2, 512, 5, 5)).astype(np.float32))
    with torch.no_grad():
        for unit in units:
            sample = x[:, :unit.weight.shape[0]]
            assert torch.equal(unit(sample), torch.nn.functional.prelu(sample, unit.weight))


def test_the_onnx_files_agree_with_torch(tmp_path: Path, data_dir: Path) -> None:
    from models.tools.pad import PAD_FILES, export_pad

    lines: list[str] = []
    paths = export_pad(data_dir / "pad", tmp_path, lines.append)
    assert [p.name for p in paths] == list(PAD_FILES)
    for line in lines:
        error = float(line.split("|difference| ")[1].split()[0])
        assert error <= 1e-5, line
    assert read_manifest(paths[0]).liveness["crop_scale"] == 2.7


def test_calibrate_pad_writes_the_threshold_and_evaluate_pad_prints_the_rates(model_dir: Path, data_dir: Path,
                                                                               tmp_path: Path,
                                                                               checker: LivenessChecker) -> None:
    folder = tmp_path / "models"
    shutil.copytree(model_dir, folder)
    frames = data_dir / "pad" / "msu_mfsd_001"
    cli = [sys.executable, "-m", "models.cli", "--models", str(folder)]
    calibrated = subprocess.run([*cli, "calibrate-pad", "--live", str(frames / "live" / "live_10*"), "--half", "first",
                                 "--grey-share", "0.2"], capture_output=True, text=True, timeout=600)
    assert calibrated.returncode == 0, calibrated.stderr[-2000:]
    chosen = json.loads(calibrated.stdout.strip().splitlines()[-1])
    copy = LivenessChecker.from_dir(folder)
    assert (copy.thresholds.attack, copy.thresholds.live) == (chosen["threshold"], chosen["grey_top"])
    assert "live_10*" in copy.thresholds.calibrated_on
    index = catalog.read_index(folder)
    assert all(index["files"][p.name] == catalog.sha256_of(p) for p in (m.path for m in copy.models))

    live = str(frames / "live" / "live_10*")
    evaluated = subprocess.run([*cli, "evaluate", "pad", "--live", live, "--half", "second",
                                "--attack", str(frames / "attack" / "attack_10*"), "--attack-type", "video-1",
                                "--attack", str(frames / "attack" / "attack_30*"), "--attack-type", "video-3",
                                "--report", str(tmp_path / "report")],
                               capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    out = evaluated.stdout
    assert "APCER video-1 " in out and ", video-3 " in out and "BPCER" in out and "ACER" in out
    assert "threshold for BPCER 1 %" in out and "smoke test, not a rate" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary["at"]) == {"calibrated", "grey_top", "bpcer_1pct"}
    assert summary["at"]["calibrated"]["threshold"] == chosen["threshold"]
    for name in ("summary.md", "scores.png", "det.png"):
        assert (tmp_path / "report" / name).is_file()
