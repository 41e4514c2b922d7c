"""A guided capture at the door camera: the technician's screen asks for a pose, offers frames, and
learns for each one whether it counted and, if not, why (a quality reason, a pose other than the one
asked for, or nearly the same as an earlier shot). The rules are here; the screen only shows them.

Every picture that may enter the gallery, a door frame or a photo of a folder, goes through
``judge``: the main face must pass the quality gate and not repeat an earlier shot.

The pose asked for is checked from the five landmarks (``models.quality.pose``), on the camera's
own (not mirrored) picture: "left" is the person's left, which moves the nose to the image's right
(yaw above 0); "right" the other way; "up" (chin up) moves the nose towards the eye line (pitch
below the straight shots'). See [enrol] guided_yaw and guided_pitch.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from enroll import checks
from enroll.config import EnrolConfig
from models.engine import FaceEngine, FaceResult
from models.liveness import Liveness, LivenessChecker
from models.quality import NO_FACE, REASON_TEXT

# The poses asked for, in order, then again from the start. Screens translate the codes.
GUIDANCE = ("straight", "left", "right", "up", "straight")
NEAR_IDENTICAL = "near_identical"
FULL = "full"
ATTACK = "attack"  # liveness: a photo or a screen, not the person at the camera
NOT_LEFT, NOT_RIGHT, NOT_UP = "not_turned_left", "not_turned_right", "not_looking_up"
POSE_REASONS = {"left": NOT_LEFT, "right": NOT_RIGHT, "up": NOT_UP}
REASONS = {**REASON_TEXT, NEAR_IDENTICAL: "nearly the same as an earlier shot (move a little)",
           FULL: "enough shots were taken; save the enrolment",
           ATTACK: "a photo or a screen, not a person (the person must stand at the camera)",
           NOT_LEFT: "not turned to the left (turn a little to your left)",
           NOT_RIGHT: "not turned to the right (turn a little to your right)",
           NOT_UP: "not looking up (raise the chin a little)"}
FRONTAL_PITCH = 0.54  # median pitch of the lfw_people photos passing the gate; used until a straight shot is taken


@dataclass(frozen=True)
class Judged:
    """One picture through the gate: the main face when it may be used, else the reasons why not."""

    result: FaceResult | None
    reasons: tuple[str, ...]
    measures: dict[str, float] = field(default_factory=dict)
    similar_to: int | None = None  # the earlier shot (0-based) a near-identical picture repeats


def judge(engine: FaceEngine, rgb: np.ndarray, earlier: list[np.ndarray], near_identical: float) -> Judged:
    """The main face of ``rgb`` (as ``engine`` picks it) must pass the quality gate and not match one
    of the ``earlier`` embeddings at ``near_identical`` or above."""
    results = engine.analyse(rgb, embed="passing")
    if not results:
        return Judged(None, (NO_FACE,))
    main = results[0]
    measures = dict(main.quality.measures)
    if not main.quality.ok or main.embedding is None:
        return Judged(None, main.quality.reasons, measures)
    repeat = checks.near_identical(main.embedding, earlier, near_identical)
    if repeat is not None:
        return Judged(None, (NEAR_IDENTICAL,), measures, repeat)
    return Judged(main, (), measures)


def pose_fits(prompt: str, measures: dict[str, float], straight_pitch: float, config: EnrolConfig) -> bool:
    """Does a face measured so show the pose asked for? "straight" takes any pose the gate passed."""
    yaw, pitch = measures.get("yaw", 0.0), measures.get("pitch", straight_pitch)
    if prompt == "left":
        return yaw >= config.guided_yaw
    if prompt == "right":
        return yaw <= -config.guided_yaw
    if prompt == "up":
        return pitch <= straight_pitch - config.guided_pitch
    return True


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
    reasons: tuple[str, ...]  # quality codes (models.quality), a pose code or NEAR_IDENTICAL; empty when accepted
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

    def __init__(self, number: str, name: str, technician: str, engine: FaceEngine, config: EnrolConfig,
                 liveness: LivenessChecker | None = None) -> None:
        self.number, self.name, self.technician = number, name, technician
        self.engine, self.config = engine, config
        self.liveness = liveness  # with it, a shot scoring below its threshold is refused as an attack
        self.min_shots, self.max_shots = config.min_shots, config.max_shots
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
        """Check one camera frame: its main face must pass the quality gate, show the pose asked for
        and not repeat a shot; with liveness, not be a photo or a screen."""
        if self.full:
            return self._refuse((FULL,), {})
        judged = judge(self.engine, rgb, [s.embedding for s in self.shots], self.config.near_identical)
        main = judged.result
        if main is None or main.embedding is None:
            similar = None if judged.similar_to is None else judged.similar_to + 1
            return self._refuse(judged.reasons, judged.measures, similar)
        if self.liveness is not None:
            score = self.liveness.score(rgb, main.face)
            if self.liveness.judge(score) is Liveness.ATTACK:
                return self._refuse((ATTACK,), {**judged.measures, "live_score": score})
        prompt = self.prompt
        if not pose_fits(prompt, judged.measures, self._straight_pitch(), self.config):
            return self._refuse((POSE_REASONS[prompt],), judged.measures)
        self.shots.append(Shot(main.embedding, main.crop, shot_quality(judged.measures, self.engine),
                               judged.measures, prompt))
        return Offer(True, (), len(self.shots), self.min_shots, self.prompt, measures=judged.measures)

    def discard(self) -> None:
        """Forget every shot (after a refused save, to start again)."""
        self.shots.clear()

    def _straight_pitch(self) -> float:
        pitches = [s.measures["pitch"] for s in self.shots if s.prompt == "straight" and "pitch" in s.measures]
        return statistics.median(pitches) if pitches else FRONTAL_PITCH

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
