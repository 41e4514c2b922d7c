"""A photo far bigger than a face needs (a 40 Mpx phone photo) is detected on a copy downscaled to
``detect_max_side``, as the kiosk's loop does for wide cameras: the cost is that of a small photo, and
boxes, landmarks and crops come back in the photo's own pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from models.detector import DetectorSettings
from models.engine import EngineSettings, FaceEngine
from models.enrolment import PHOTO_MIN_FACE, photo_view
from models.images import read_image


def test_detection_settings_downscale_only_images_over_the_limit() -> None:
    engine = FaceEngine.__new__(FaceEngine)
    engine.settings = EngineSettings(detector=DetectorSettings(min_face=40), detect_max_side=1024)
    assert engine.detection_settings((480, 640, 3)) is engine.settings.detector
    big = engine.detection_settings((6324, 6324, 3))
    assert big.scale * 6324 <= 1024 and big.min_face == 12  # 40 px faces at 1024/6324 would be 6.5 px: P-Net's 12
    engine.settings = EngineSettings(detector=DetectorSettings(min_face=80), detect_max_side=1024)
    wide = engine.detection_settings((3000, 4000, 3))
    assert wide.scale == pytest.approx(1024 / 4000) and wide.min_face == round(80 * 1024 / 4000)


@pytest.mark.data
def test_a_big_photo_finds_the_same_face_in_its_own_pixels(engine: FaceEngine, data_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    photos = photo_view(engine)
    assert photos.settings.detector.min_face == PHOTO_MIN_FACE and photos.settings.face_selection == "centre"
    rgb = read_image(sorted((data_dir / "lfw_people" / "known" / "Adrien_Brody").glob("*.jpg"))[0])
    big = cv2.resize(rgb, (rgb.shape[1] * 16, rgb.shape[0] * 16), interpolation=cv2.INTER_LINEAR)  # 16 Mpx
    seen: list[Any] = []
    plain = engine.detector.detect

    def spying(image: np.ndarray, settings: DetectorSettings | None = None) -> Any:
        seen.append(settings)
        return plain(image, settings)

    monkeypatch.setattr(engine.detector, "detect", spying)
    small_face = photos.analyse(rgb, embed="none")[0].face
    big_result = photos.analyse(big, embed="none")[0]
    assert seen[0].scale == 1.0 and seen[1].scale * big.shape[1] <= 1024
    box = big_result.face.box / 16
    overlap = _iou(box, small_face.box)
    assert overlap > 0.8, (box, small_face.box)
    assert big_result.quality.measures["face_px"] > 16 * 0.8 * min(small_face.width, small_face.height)
    assert big_result.crop.shape == (160, 160, 3)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))
