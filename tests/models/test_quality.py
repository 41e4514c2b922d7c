"""The quality gate on real photos made worse in the ways a door camera makes them worse."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models import quality
from models.detector import Face
from models.images import read_image


@pytest.fixture(scope="module")
def photo(data_dir):  # type: ignore[no-untyped-def]
    return read_image(data_dir / "lfw_people" / "known" / "Bill_Clinton" / "Bill_Clinton_0001.jpg")


def _primary(engine, rgb: np.ndarray):  # type: ignore[no-untyped-def]
    results = engine.analyse(rgb, embed="none")
    assert results, "no face found"
    return results[0]


def test_ordinary_photo_passes(engine, photo) -> None:  # type: ignore[no-untyped-def]
    result = _primary(engine, photo)
    assert result.quality.ok, result.quality.describe()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda im: cv2.GaussianBlur(im, (0, 0), 3), quality.BLURRED),
        (lambda im: cv2.resize(im, (80, 80), interpolation=cv2.INTER_AREA), quality.TOO_SMALL),
        (lambda im: (im * 0.25).astype(np.uint8), quality.TOO_DARK),
        (lambda im: np.clip(im.astype(np.int16) + 100, 0, 255).astype(np.uint8), quality.TOO_BRIGHT),
        (lambda im: np.hstack([im, im[:, ::-1]]), quality.SEVERAL_FACES),
    ],
    ids=["blurred", "tiny", "dark", "bright", "two faces"],
)
def test_damaged_photo_is_rejected_for_the_right_reason(engine, photo, damage, reason: str) -> None:  # type: ignore[no-untyped-def]
    result = _primary(engine, damage(photo))
    assert reason in result.quality.reasons, result.quality.measures


def test_pose_from_landmarks() -> None:
    frontal = np.array([[40, 50], [80, 50], [60, 72], [45, 90], [75, 90]], np.float32)
    box = np.array([20, 20, 100, 110], np.float32)
    yaw, pitch, roll = quality.pose(Face(box, 0.99, frontal))
    assert abs(yaw) < 0.01 and 0.5 < pitch < 0.6 and abs(roll) < 0.01
    turned = frontal.copy()
    turned[2, 0] += 25  # nose far towards one eye: the head is turned
    report = quality.assess(Face(box, 0.99, turned), np.full((160, 160, 3), 128, np.uint8), [])
    assert quality.TURNED_AWAY in report.reasons
    rotated = frontal @ np.array([[0.8, 0.6], [-0.6, 0.8]], np.float32)  # same face, rolled 37 degrees
    yaw_r, pitch_r, roll_r = quality.pose(Face(box, 0.99, rotated))
    assert abs(yaw_r) < 0.01 and abs(pitch_r - pitch) < 1e-3 and abs(abs(roll_r) - 36.87) < 0.1
