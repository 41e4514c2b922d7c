"""Liveness (presentation-attack detection): is the face in front of the camera a person, or a
printed photo or a screen held up to it?

MiniFASNet classifiers in ONNX (``labgate-models build`` makes them from the Apache-2.0
Silent-Face weights). Each file's manifest says its crop scale around the detector's box, input
size, colour order, value range and which output class is live; the calibrated threshold and the
grey zone are in its ``liveness`` entry. The score of a face is the live-class probability averaged
over the models. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.catalog import read_index
from models.detector import Face
from models.runtime import Manifest, ModelError, manifest_of, session

PAD_KIND = "pad"
# Used only when no model carries a calibrated threshold (a build without data): the published
# operating point, which is not calibrated for our MTCNN boxes.
UNCALIBRATED_THRESHOLD = 0.915


class Liveness(Enum):
    LIVE = "live"
    ATTACK = "attack"
    UNSURE = "unsure"  # in the grey zone: ask for a second look


@dataclass(frozen=True)
class PadThresholds:
    """A face scoring below ``attack`` is an attack; at or above ``live`` it is live; between, unsure."""

    attack: float
    live: float
    calibrated_on: str = "uncalibrated"

    def __post_init__(self) -> None:
        if not 0.0 <= self.attack <= self.live <= 1.0:
            raise ValueError(f"liveness thresholds need 0 <= attack <= live <= 1, got attack={self.attack} "
                             f"live={self.live}")

    def judge(self, score: float) -> Liveness:
        if score < self.attack:
            return Liveness.ATTACK
        return Liveness.LIVE if score >= self.live else Liveness.UNSURE


def window(box: np.ndarray, shape: tuple[int, ...], scale: float) -> tuple[int, int, int, int]:
    """The crop window (x1, y1, x2, y2; x2, y2 exclusive) for a face box, as MiniFASNet was trained on:
    ``scale`` times the box about its centre, the scale capped so the window fits the frame, and a
    window that crosses an edge moved back inside rather than cut."""
    height, width = shape[:2]
    box_w = max(float(box[2] - box[0]), 1.0)
    box_h = max(float(box[3] - box[1]), 1.0)
    scale = min(scale, (height - 1) / box_h, (width - 1) / box_w)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = float(box[0]) + box_w / 2, float(box[1]) + box_h / 2
    x1, y1 = cx - new_w / 2, cy - new_h / 2
    x1 = min(max(x1, 0.0), width - 1 - new_w)
    y1 = min(max(y1, 0.0), height - 1 - new_h)
    left, top = int(x1), int(y1)
    return left, top, int(x1 + new_w) + 1, int(y1 + new_h) + 1


class PadModel:
    """One MiniFASNet ONNX file: crops of faces in a frame -> live-class probabilities."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = path
        self._session = session(path, threads)
        self.manifest: Manifest = manifest_of(self._session, path)
        if self.manifest.kind != PAD_KIND:
            raise ModelError(f"{path} is a {self.manifest.kind}, not a liveness ({PAD_KIND}) model")
        self.settings: dict[str, Any] = dict(self.manifest.liveness)
        for key in ("crop_scale", "live_class"):
            if key not in self.settings:
                raise ModelError(f"{path}: its manifest's liveness entry lacks {key!r}; rebuild with "
                                 "`labgate-models build`")
        self._input = self._session.get_inputs()[0].name

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The model's input crop of ``face`` (uint8, size x size x 3, in the manifest's colour order)."""
        x1, y1, x2, y2 = window(face.box, rgb.shape, float(self.settings["crop_scale"]))
        height, width = self.manifest.input_size
        patch = cv2.resize(rgb[y1:y2, x1:x2], (width, height), interpolation=cv2.INTER_LINEAR)
        return patch[:, :, ::-1] if self.manifest.colour == "BGR" else patch

    def live_probability(self, crops: np.ndarray) -> np.ndarray:
        """(N,) probabilities that each crop (N, H, W, 3) is live."""
        tensor = (crops.astype(np.float32) - self.manifest.mean) / self.manifest.std
        tensor = np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))
        out = self._session.run(None, {self._input: tensor})[0]
        return out[:, int(self.settings["live_class"])].astype(np.float32)


class LivenessChecker:
    """The models of a build, averaged; and the calibrated thresholds (or overrides)."""

    def __init__(self, paths: list[Path], threads: int = 1, thresholds: PadThresholds | None = None) -> None:
        if not paths:
            raise ModelError("no liveness models given; run `labgate-models build`")
        self.models = [PadModel(p, threads) for p in paths]
        self.thresholds = thresholds or self.calibrated()

    @classmethod
    def from_dir(cls, directory: Path, threads: int = 1, thresholds: PadThresholds | None = None) -> LivenessChecker:
        return cls(pad_paths(directory), threads, thresholds)

    @property
    def model_id(self) -> str:
        return "+".join(m.model_id for m in self.models)

    def calibrated(self) -> PadThresholds:
        """The first model's calibrated thresholds (calibrate-pad writes the same into every file)."""
        settings = self.models[0].settings
        if "threshold" not in settings:
            return PadThresholds(UNCALIBRATED_THRESHOLD, UNCALIBRATED_THRESHOLD, "published, not calibrated")
        attack = float(settings["threshold"])
        live = float(settings.get("grey_top", attack))
        return PadThresholds(attack, max(attack, live), str(settings.get("calibrated_on", "")))

    def scores(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """(len(faces),) live scores of faces in one RGB frame: the models' live probabilities averaged."""
        if not faces:
            return np.zeros(0, dtype=np.float32)
        total = np.zeros(len(faces), dtype=np.float32)
        for model in self.models:
            total += model.live_probability(np.stack([model.crop(rgb, f) for f in faces]))
        return total / len(self.models)

    def score(self, rgb: np.ndarray, face: Face) -> float:
        return float(self.scores(rgb, [face])[0])

    def judge(self, score: float) -> Liveness:
        return self.thresholds.judge(score)


def pad_paths(directory: Path) -> list[Path]:
    """The liveness models a build lists in models.json (``pad``), in order."""
    names = read_index(directory).get("pad") or []
    paths = [directory / name for name in names]
    missing = [p for p in paths if not p.is_file()]
    if not names or missing:
        raise ModelError(f"no liveness models in {directory} ({', '.join(map(str, missing)) or 'none listed'}); "
                         "run `labgate-models build`")
    return paths
