"""The open-set decision for one probe: ACCEPT, LOOK_AGAIN or UNKNOWN."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.gallery import Match
from models.runtime import Thresholds


class Outcome(StrEnum):
    ACCEPT = "accept"
    LOOK_AGAIN = "look_again"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    person: str | None  # the accepted person; None unless ACCEPT
    candidate: str | None  # the best-scoring person, whatever the outcome (for logs and voting)
    score: float  # best person's score (-1 with an empty gallery)
    margin: float  # best score minus the next person's (the best score itself when there is no next)


def decide(matches: list[Match], thresholds: Thresholds) -> Decision:
    """ACCEPT when best >= τ_accept and beats the next person by the margin; UNKNOWN below τ_unknown;
    LOOK_AGAIN in between (a grey-zone score, or two people too close to call)."""
    if not matches:
        return Decision(Outcome.UNKNOWN, None, None, -1.0, 0.0)
    best = matches[0]
    margin = best.score - matches[1].score if len(matches) > 1 else best.score
    if best.score < thresholds.unknown:
        outcome = Outcome.UNKNOWN
    elif best.score >= thresholds.accept and margin >= thresholds.margin:
        outcome = Outcome.ACCEPT
    else:
        outcome = Outcome.LOOK_AGAIN
    person = best.person if outcome is Outcome.ACCEPT else None
    return Decision(outcome, person, best.person, best.score, margin)
