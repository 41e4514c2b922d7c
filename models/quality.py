"""Is this face good enough to embed? Size, blur, pose, exposure and the number of faces.

Defaults come from measurements on real photos (lfw_people and deepface pairs, see README
"Quality gate"): they keep at least 99 % of ordinary photos and reject blurred (Gaussian sigma 3 on
a 250 px photo), tiny, dark, over-exposed, turned-away and several-face shots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from models.detector import Face

# Reasons, as stable codes (screens translate them; logs and reports print them).
NO_FACE = "no_face"
SEVERAL_FACES = "several_faces"
TOO_SMALL = "too_small"
BLURRED = "blurred"
TURNED_AWAY = "turned_away"
TILTED = "tilted"  # head too far up or down
TOO_DARK = "too_dark"
TOO_BRIGHT = "too_bright"

REASON_TEXT = {
    NO_FACE: "no face found",
    SEVERAL_FACES: "more than one face in view",
    TOO_SMALL: "face too small (come closer)",
    BLURRED: "image blurred (hold still)",
    TURNED_AWAY: "face turned to the side (look at the camera)",
    TILTED: "head tilted up or down (look straight ahead)",
    TOO_DARK: "too dark",
    TOO_BRIGHT: "too bright",
}


@dataclass(frozen=True)
class QualitySettings:
    min_face_px: float = 48.0  # shorter side of the detector's box
    min_eye_px: float = 20.0  # distance between the eye landmarks
    min_sharpness: float = 15.0  # variance of the Laplacian on the centre of the 160 px crop
    max_yaw: float = 0.45  # nose offset from the eye midpoint, in eye distances
    pitch_range: tuple[float, float] = (0.25, 0.80)  # nose height between the eye and mouth lines
    brightness_range: tuple[float, float] = (50.0, 215.0)  # mean grey level of the crop's centre
    max_faces: int = 1  # faces of at least min_face_px allowed in view
    secondary_face_ratio: float = 0.5  # a face smaller than this fraction of the main one is ignored


@dataclass(frozen=True)
class QualityReport:
    reasons: tuple[str, ...]
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def describe(self) -> str:
        return "ok" if self.ok else "; ".join(REASON_TEXT.get(r, r) for r in self.reasons)


def pose(face: Face) -> tuple[float, float, float]:
    """(yaw, pitch, roll_degrees) from the five landmarks, after levelling the eyes.

    yaw: horizontal offset of the nose from the eye midpoint in eye distances (0 = frontal);
    pitch: where the nose sits between the eye line (0) and the mouth line (1), about 0.55 frontal.
    """
    points = face.landmarks.astype(np.float64)
    left, right = points[0], points[1]
    angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    c, s = np.cos(-angle), np.sin(-angle)
    level = (points - (left + right) / 2) @ np.array([[c, s], [-s, c]])
    eye_distance = max(level[1, 0] - level[0, 0], 1e-6)
    yaw = level[2, 0] / eye_distance
    mouth_y = (level[3, 1] + level[4, 1]) / 2
    pitch = level[2, 1] / mouth_y if mouth_y > 1e-6 else 0.0
    return float(yaw), float(pitch), float(np.degrees(angle))


def sharpness(crop: np.ndarray) -> float:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    centre = grey[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    return float(cv2.Laplacian(centre, cv2.CV_64F).var())


def brightness(crop: np.ndarray) -> float:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    return float(grey[h // 4: 3 * h // 4, w // 4: 3 * w // 4].mean())


def assess(face: Face | None, crop: np.ndarray | None, faces_in_view: list[Face],
           settings: QualitySettings | None = None) -> QualityReport:
    """Check one face (and its embedder crop) against the settings; every failing reason is listed."""
    settings = settings or QualitySettings()
    if face is None or crop is None:
        return QualityReport((NO_FACE,), {"faces": float(len(faces_in_view))})
    reasons: list[str] = []
    size = min(face.width, face.height)
    counted = max(settings.min_face_px, size * settings.secondary_face_ratio)
    big = [f for f in faces_in_view if min(f.width, f.height) >= counted]
    yaw, pitch, roll = pose(face)
    measures = {
        "face_px": size,
        "eye_px": face.eye_distance,
        "sharpness": sharpness(crop),
        "yaw": yaw,
        "pitch": pitch,
        "roll_deg": roll,
        "brightness": brightness(crop),
        "faces": float(len(big)),
    }
    if len(big) > settings.max_faces:
        reasons.append(SEVERAL_FACES)
    if size < settings.min_face_px or face.eye_distance < settings.min_eye_px:
        reasons.append(TOO_SMALL)
    if measures["sharpness"] < settings.min_sharpness:
        reasons.append(BLURRED)
    if abs(yaw) > settings.max_yaw:
        reasons.append(TURNED_AWAY)
    if not settings.pitch_range[0] <= pitch <= settings.pitch_range[1]:
        reasons.append(TILTED)
    if measures["brightness"] < settings.brightness_range[0]:
        reasons.append(TOO_DARK)
    elif measures["brightness"] > settings.brightness_range[1]:
        reasons.append(TOO_BRIGHT)
    return QualityReport(tuple(reasons), measures)
