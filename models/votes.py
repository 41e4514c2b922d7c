"""k of n voting over one track's good frames: a face is accepted when k of its last n quality-passing
frames name the same person; a confident stranger when k of them are below τ_unknown.

An identity flip (a frame that accepts a different person than the track's earlier accepting frames)
clears the window: two people swapping places in front of the camera never add their votes up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from models.decision import Decision, Outcome


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome  # ACCEPT or UNKNOWN (LOOK_AGAIN when the window is full and undecided)
    person: str | None
    score: float  # mean score of the agreeing frames
    margin: float  # mean margin of the agreeing frames


class Vote:
    def __init__(self, k: int, n: int) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"vote needs 1 <= k <= n, got k={k} n={n}")
        self.k, self.n = k, n
        self.window: deque[Decision] = deque(maxlen=n)
        self.flips = 0
        self.seen = 0  # good frames counted over the track's life

    def add(self, decision: Decision) -> Verdict | None:
        """Count one good frame's decision; a verdict once the window agrees, else None."""
        if decision.outcome is Outcome.ACCEPT:
            earlier = {d.person for d in self.window if d.outcome is Outcome.ACCEPT}
            if earlier and decision.person not in earlier:
                self.window.clear()
                self.flips += 1
        self.window.append(decision)
        self.seen += 1
        accepted: dict[str, list[Decision]] = {}
        unknown: list[Decision] = []
        for d in self.window:
            if d.outcome is Outcome.ACCEPT and d.person:
                accepted.setdefault(d.person, []).append(d)
            elif d.outcome is Outcome.UNKNOWN:
                unknown.append(d)
        for person, agreeing in accepted.items():
            if len(agreeing) >= self.k:
                return _verdict(Outcome.ACCEPT, person, agreeing)
        if len(unknown) >= self.k:
            return _verdict(Outcome.UNKNOWN, None, unknown)
        if len(self.window) == self.n:
            return _verdict(Outcome.LOOK_AGAIN, None, list(self.window))
        return None

    def reset(self) -> None:
        self.window.clear()


def _verdict(outcome: Outcome, person: str | None, agreeing: list[Decision]) -> Verdict:
    score = sum(d.score for d in agreeing) / len(agreeing)
    margin = sum(d.margin for d in agreeing) / len(agreeing)
    return Verdict(outcome, person, score, margin)
