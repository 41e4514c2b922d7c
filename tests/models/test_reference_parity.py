"""Our run-time against facenet-pytorch on torch: the same weights, the same faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models import catalog
from models.datasets import image_files
from models.images import read_image
from models.runtime import read_manifest


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_onnx_embedder_matches_torch_on_real_faces(fp32_engine, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from models.tools.export import torch_embedder
    from models.tools.facenet_weights import casia_weights

    manifest = fp32_engine.embedder.manifest
    if "casia" not in manifest.model_id:
        pytest.skip(f"the built embedder {manifest.model_id} is not from the casia weights")
    weights = casia_weights(catalog.model_dir().parent / "cache")
    assert weights.sha256 == manifest.weights_sha256
    photos = image_files(data_dir / "lfw_micro" / "images_flat")[:24]
    crops = np.stack([fp32_engine.embed_photo(read_image(p), check_quality=False).crop for p in photos])
    ours = fp32_engine.embedder.network_output(crops)
    tensor = torch.from_numpy(((crops.astype(np.float32) - 127.5) / 128.0).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        reference = torch_embedder(weights.state_dict)(tensor).numpy()
    difference = float(np.abs(ours - reference).max())
    print(f"ONNX vs torch, {len(crops)} real faces: max |difference| {difference:.2e}")
    assert difference <= 1e-5


@pytest.mark.parametrize("folder", ["lfw_micro/images_flat", "deepface_pairs"])
def test_detector_matches_facenet_pytorch_mtcnn(engine, data_dir: Path, folder: str) -> None:  # type: ignore[no-untyped-def]
    from models.tools.reference import facenet_pytorch

    reference = facenet_pytorch().MTCNN(keep_all=True)
    ious, landmark_errors, missed = [], [], []
    for path in image_files(data_dir / folder):
        rgb = read_image(path)
        with torch.no_grad():
            boxes, _, points = reference.detect(rgb, landmarks=True)
        ours = engine.detector.detect(rgb)
        if boxes is None:
            continue
        for box, landmarks in zip(np.asarray(boxes, np.float64), np.asarray(points, np.float64), strict=False):
            best = max(ours, key=lambda f: _iou(f.box, box), default=None)
            if best is None or _iou(best.box, box) < 0.5:
                missed.append((path.name, box.round(1).tolist()))
                continue
            ious.append(_iou(best.box, box))
            eye_distance = np.linalg.norm(landmarks[1] - landmarks[0])
            landmark_errors.append(float(np.median(np.linalg.norm(best.landmarks - landmarks, axis=1)) / eye_distance))
    print(f"{folder}: {len(ious)} faces, missed {len(missed)}, median IoU {np.median(ious):.5f}, "
          f"median landmark error {np.median(landmark_errors):.2e} of the eye distance")
    assert not missed, f"faces the reference finds and we miss: {missed}"
    assert np.median(ious) >= 0.95
    assert np.median(landmark_errors) <= 0.03


def test_manifest_carries_what_the_runtime_needs(model_dir: Path) -> None:
    for name in catalog.read_index(model_dir)["files"]:
        manifest = read_manifest(model_dir / name)
        assert manifest.model_id and manifest.weights_sha256
        assert manifest.colour == ("BGR" if manifest.kind == "pad" else "RGB")  # MiniFASNet was trained on BGR
        if manifest.kind == "embedder":
            assert manifest.embedding_size == 512 and manifest.input_size == (160, 160)
            assert manifest.alignment["method"] in ("eye-roll", "margin", "template5")
            assert manifest.thresholds is not None and manifest.thresholds.accept > manifest.thresholds.unknown
