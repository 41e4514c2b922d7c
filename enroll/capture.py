"""A guided capture at the door camera: the technician's screen asks for a pose, offers frames, and
learns for each one whether it counted and, if not, why (a quality reason, or nearly the same as an
earlier shot). The rules are here; the screen only shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from enroll import checks
from models.engine import FaceEngine
from models.quality import NO_FACE, REASON_TEXT

# The poses asked for, in order, then again from the start. Screens translate the codes.
GUIDANCE = ("straight", "left", "right", "up", "straight")
NEAR_IDENTICAL = "near_identical"
FULL = "full"
REASONS = {**REASON_TEXT, NEAR_IDENTICAL: "nearly the same as an earlier shot (move a little)",
           FULL: "enough shots were taken; save the enrolment"}


@dataclass(frozen=True)
class Shot:
    embedding: np.ndarray
    crop: np.ndarray  # the embedder's aligned crop (RGB uint8); kept only if [enrol] keep_crops
    quality: float  # 0..1, how far the shot clears the quality gate (for the template's quality column)
    measures: dict[str, float]
    prompt: str


@dataclass(frozen=True)
class Offer:
    """What became of one offered frame."""

    accepted: bool
    reasons: tuple[str, ...]  # quality codes (models.quality) or NEAR_IDENTICAL; empty when accepted
    shots: int  # shots counted so far
    needed: int  # shots a save needs
    prompt: str  # the pose to ask for next
    similar_to: int | None = None  # the earlier shot (1-based) a near-identical frame repeats
    measures: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        if self.accepted:
            return f"shot {self.shots} of {self.needed} taken"
        text = "; ".join(REASONS.get(r, r) for r in self.reasons)
        return text + (f" (shot {self.similar_to})" if self.similar_to else "")


class Capture:
    """The shots of one enrolment in progress (created by ``EnrolmentService.begin``)."""

    def __init__(self, number: str, name: str, technician: str, engine: FaceEngine, min_shots: int,
                 max_shots: int, near_identical: float) -> None:
        self.number, self.name, self.technician = number, name, technician
        self.engine = engine
        self.min_shots, self.max_shots, self.near_identical = min_shots, max_shots, near_identical
        self.shots: list[Shot] = []
        self.rejected: dict[str, int] = {}
        self.consent: tuple[str, str, str] | None = None  # (at, by, policy), set by the service

    @property
    def prompt(self) -> str:
        return GUIDANCE[len(self.shots) % len(GUIDANCE)]

    @property
    def ready(self) -> bool:
        return len(self.shots) >= self.min_shots

    @property
    def full(self) -> bool:
        return len(self.shots) >= self.max_shots

    def offer(self, rgb: np.ndarray) -> Offer:
        """Check one camera frame: its main face must pass the quality gate and not repeat a shot."""
        if self.full:
            return self._refuse((FULL,), {})
        results = self.engine.analyse(rgb, embed="passing")
        if not results:
            return self._refuse((NO_FACE,), {})
        main = results[0]
        if not main.quality.ok or main.embedding is None:
            return self._refuse(main.quality.reasons, main.quality.measures)
        earlier = checks.near_identical(main.embedding, [s.embedding for s in self.shots], self.near_identical)
        if earlier is not None:
            return self._refuse((NEAR_IDENTICAL,), main.quality.measures, earlier + 1)
        prompt = self.prompt
        self.shots.append(Shot(main.embedding, main.crop, shot_quality(main.quality.measures, self.engine),
                               dict(main.quality.measures), prompt))
        return Offer(True, (), len(self.shots), self.min_shots, self.prompt, measures=dict(main.quality.measures))

    def discard(self) -> None:
        """Forget every shot (after a refused save, to start again)."""
        self.shots.clear()

    def _refuse(self, reasons: tuple[str, ...], measures: dict[str, float], similar: int | None = None) -> Offer:
        for reason in reasons:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return Offer(False, reasons, len(self.shots), self.min_shots, self.prompt, similar, dict(measures))


def shot_quality(measures: dict[str, float], engine: FaceEngine) -> float:
    """A 0..1 summary of how far a passing face clears the gate (size, sharpness, frontal pose)."""
    q = engine.settings.quality
    size = min(1.0, measures.get("face_px", 0.0) / (2 * q.min_face_px))
    sharp = min(1.0, measures.get("sharpness", 0.0) / (4 * q.min_sharpness))
    frontal = max(0.0, 1.0 - abs(measures.get("yaw", 0.0)) / max(q.max_yaw, 1e-6))
    return round((size + sharp + frontal) / 3, 3)
