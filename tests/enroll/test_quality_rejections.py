"""Acceptance 3: blurred, tiny, dark, turned-away and two-face photos, made from real shared photos,
are rejected by `labgate-enroll import` with the matching reason (and a person with only such photos
is not enrolled). The turned-away photo is a real one, named below and checked by its measured yaw."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from device.store import Store
from enroll.service import portrait_view
from models import quality
from models.engine import FaceEngine
from models.images import read_image
from tests.enroll.conftest import Imported, run_cli

pytestmark = pytest.mark.data


def _passing(engine: FaceEngine, photos: list[Path]) -> tuple[np.ndarray, float]:
    """The first photo that passes the gate, and its face size."""
    for photo in photos:
        rgb = read_image(photo)
        results = engine.analyse(rgb, embed="none")
        if results and results[0].quality.ok:
            return rgb, results[0].quality.measures["face_px"]
    raise AssertionError("no passing photo")


TURNED_AWAY_PHOTO = "Atsushi_Sato_0001.jpg"  # lfw_people/unknown: the head turned far to his left


def _turned_away(engine: FaceEngine, data_dir: Path) -> tuple[np.ndarray, float]:
    """The real turned-away photo and its yaw: its only failing check is the head's turn (|yaw|
    measured from the landmarks above [quality] max_yaw)."""
    rgb = read_image(data_dir / "lfw_people" / "unknown" / TURNED_AWAY_PHOTO)
    [main, *_] = engine.analyse(rgb, embed="none")
    assert main.quality.reasons == (quality.TURNED_AWAY,), main.quality.reasons
    yaw = main.quality.measures["yaw"]
    assert abs(yaw) > engine.settings.quality.max_yaw
    return rgb, yaw


def test_damaged_photos_are_rejected_with_the_matching_reason(tmp_path: Path, data_dir: Path, imported: Imported,
                                                              known: dict[str, list[Path]],
                                                              door_engine: FaceEngine) -> None:
    photos = portrait_view(door_engine)
    base, face_px = _passing(photos, known["Tim_Henman"])
    other, _ = _passing(photos, known["Venus_Williams"])
    scale = 44.0 / face_px  # a face of about 44 px: found by the detector, under [quality] min_face_px (48)
    turned, yaw = _turned_away(photos, data_dir)
    made = {
        "blurred.png": (cv2.GaussianBlur(base, (0, 0), 3), quality.BLURRED),
        "tiny.png": (cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), quality.TOO_SMALL),
        "dark.png": ((base * 0.25).astype(np.uint8), quality.TOO_DARK),
        "two_faces.png": (np.hstack([base, cv2.resize(other, (base.shape[1], base.shape[0]))]), quality.SEVERAL_FACES),
        "turned.png": (turned, quality.TURNED_AWAY),
    }
    folder = tmp_path / "photos" / "2201000300"
    folder.mkdir(parents=True)
    for name, (rgb, _reason) in made.items():
        Image.fromarray(rgb).save(folder / name)
    db = tmp_path / "kiosk.db"
    code, out, _err = run_cli("import", str(folder.parent), "--consent", "--by", "19800101", "--config",
                              str(imported.config), "--db", str(db), "--report", str(tmp_path / "r.csv"), "--quiet")
    assert code == 1, out  # the person was refused: no usable photo
    lines = {line.split()[0].split("/")[-1]: line for line in out.splitlines() if line.startswith("  2201000300/")}
    assert set(lines) == set(made), out
    for name, (_rgb, reason) in made.items():
        codes = lines[name].split()[1].split(",")
        assert reason in codes, (name, lines[name])
        assert quality.REASON_TEXT[reason] in lines[name]
    assert f"yaw={yaw:.3g}" in lines["turned.png"], "the import measured the named photo"
    assert "refused 2201000300: too_few" in out
    store = Store(db)
    assert store.person_record("2201000300") is None
    store.close()
