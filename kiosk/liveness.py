"""Liveness at the door: a track's face is checked on a few of its quality-passing frames before the
door may accept it (or log it as a stranger). A photo or a screen held up is judged an attack and
logged as a ``spoof`` event, never as a person or a stranger.

Per track: the models score the first ``frames`` good frames; their mean below the threshold is an
attack, at or above the grey zone's top is live. In between, the door asks for a small head turn:
a live head changes its yaw (the nose's offset from the eyes' midpoint, from the five landmarks)
while a flat photo or screen turned about keeps it, so a yaw change of at least ``turn_yaw`` within
``turn_s`` seconds is live, and none is an attack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from device.config import LivenessConfig
from models.detector import Face
from models.liveness import Liveness, LivenessChecker, PadThresholds
from models.quality import pose


@dataclass
class TrackLiveness:
    """One track's liveness evidence and verdict (None while undecided)."""

    scores: list[float] = field(default_factory=list)
    yaws: list[float] = field(default_factory=list)
    verdict: Liveness | None = None
    turn_since: float | None = None  # loop clock when the head turn was asked for
    base_yaw: float = 0.0
    why: str = ""

    @property
    def score(self) -> float:
        return float(np.mean(self.scores)) if self.scores else 0.0

    @property
    def asking_turn(self) -> bool:
        return self.verdict is None and self.turn_since is not None


class LivenessGate:
    def __init__(self, checker: LivenessChecker, config: LivenessConfig) -> None:
        self.checker, self.config = checker, config
        attack = config.threshold if config.threshold >= 0 else checker.thresholds.attack
        live = config.grey_top if config.grey_top >= 0 else max(attack, checker.thresholds.live)
        self.thresholds = PadThresholds(attack, max(attack, live), checker.thresholds.calibrated_on)

    @property
    def model_id(self) -> str:
        return self.checker.model_id

    def wants_frame(self, state: TrackLiveness) -> bool:
        """Does this track still need a model score (its first ``frames`` good frames)?"""
        return state.verdict is None and state.turn_since is None and len(state.scores) < self.config.frames

    def check(self, state: TrackLiveness, rgb: np.ndarray, face: Face, t: float) -> Liveness | None:
        """Score one good frame of the track; the verdict once ``frames`` are scored (UNSURE: the turn begins)."""
        state.scores.append(self.checker.score(rgb, face))
        state.yaws.append(pose(face)[0])
        if len(state.scores) < self.config.frames:
            return None
        judged = self.thresholds.judge(state.score)
        if judged is Liveness.UNSURE:
            state.turn_since, state.base_yaw = t, float(np.median(state.yaws))
            return Liveness.UNSURE
        state.verdict, state.why = judged, "score"
        return judged

    def turn(self, state: TrackLiveness, face: Face, t: float) -> Liveness | None:
        """During the head turn, every frame the face is seen: live once the yaw moved, an attack at the end."""
        if not state.asking_turn or state.turn_since is None:
            return state.verdict
        yaw = pose(face)[0]
        if abs(yaw - state.base_yaw) >= self.config.turn_yaw:
            state.verdict, state.why = Liveness.LIVE, "turn"
        elif t - state.turn_since > self.config.turn_s:
            state.verdict, state.why = Liveness.ATTACK, "no_turn"
        return state.verdict
