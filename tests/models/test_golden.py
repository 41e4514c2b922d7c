"""Our ONNX FaceNet reproduces facenet-pytorch's own expected embedding distances (casia weights).

facenet-pytorch's CI makes its crops from ``test_images`` resized to 512 on the short side, runs its
MTCNN (margin 0, 160 px) and compares the 5x5 distance matrix with the expected one (tolerance 1e-2).
The aligned PNGs shipped in ``test_images_aligned`` are from an older run and give 0.058 with both our
conversion and an independent interpretation of the original TensorFlow graph, so the golden check
follows the procedure that produced the numbers. The raw photo of bradley_cooper is not in the
shared data, so the check runs on the other four (a 4x4 sub-matrix). Our embedding centring is
not part of the network and the golden numbers were made without it, so the network output is used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.align import margin_crop
from models.engine import primary_index

TOLERANCE = 0.01  # facenet-pytorch's own CI tolerance


def _resized(path: Path) -> Image.Image:
    image = Image.open(path).convert("RGB")
    width, height = image.size
    short = min(width, height)
    return image.resize((int(512 * width / short), int(512 * height / short)), Image.BILINEAR)


@pytest.fixture(scope="module")
def expected(data_dir: Path) -> tuple[list[str], np.ndarray, Path]:
    folder = data_dir / "facenet_pytorch_images"
    spec = json.loads((folder / "expected_distances.json").read_text())
    return spec["names"], np.asarray(spec["casia-webface"]), folder


def _error(embeddings: np.ndarray, expected: np.ndarray) -> float:
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    return float(np.linalg.norm(distances - expected))


def test_reference_crops_through_our_onnx_match_expected_distances(fp32_engine, expected) -> None:  # type: ignore[no-untyped-def]
    from models.tools.reference import facenet_pytorch

    names, matrix, folder = expected
    mtcnn = facenet_pytorch().MTCNN()
    keep = [i for i, n in enumerate(names) if (folder / "test_images" / n / "1.jpg").exists()]
    assert len(keep) >= 4
    crops = []
    for i in keep:
        tensor = mtcnn(_resized(folder / "test_images" / names[i] / "1.jpg"))  # (3,160,160), (x-127.5)/128
        crops.append(np.clip(np.rint(tensor.permute(1, 2, 0).numpy() * 128 + 127.5), 0, 255).astype(np.uint8))
    embeddings = fp32_engine.embedder.network_output(np.stack(crops))
    error = _error(embeddings, matrix[np.ix_(keep, keep)])
    print(f"golden error (reference crops, our ONNX): {error:.4f}")
    assert error < TOLERANCE


def test_our_detector_and_crop_through_our_onnx_match_expected_distances(fp32_engine, expected) -> None:  # type: ignore[no-untyped-def]
    names, matrix, folder = expected
    keep = [i for i, n in enumerate(names) if (folder / "test_images" / n / "1.jpg").exists()]
    crops = []
    for i in keep:
        rgb = np.asarray(_resized(folder / "test_images" / names[i] / "1.jpg"))
        faces = fp32_engine.detector.detect(rgb)
        crops.append(margin_crop(rgb, faces[primary_index(faces, rgb.shape)].box, 160, 0))
    error = _error(fp32_engine.embedder.network_output(np.stack(crops)), matrix[np.ix_(keep, keep)])
    print(f"golden error (our detector and crop, our ONNX): {error:.4f}")
    assert error < TOLERANCE



def test_the_shipped_aligned_pngs_are_stale(fp32_engine, expected) -> None:  # type: ignore[no-untyped-def]
    """Why the checks above recrop the raw photos: the stored ``test_images_aligned`` PNGs, straight
    through the same network, miss facenet-pytorch's tolerance (0.058 here, as the docstring says)."""
    names, matrix, folder = expected
    crops = np.stack([np.asarray(Image.open(folder / "test_images_aligned" / n / "1.png").convert("RGB"))
                      for n in names])
    assert crops.shape == (len(names), 160, 160, 3)
    error = _error(fp32_engine.embedder.network_output(crops), matrix)
    print(f"golden error (stored aligned PNGs, our ONNX): {error:.4f}")
    assert error > TOLERANCE
