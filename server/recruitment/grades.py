"""Grade scales: letter grades and their weights. A vacancy names its scale; two are built in."""

from __future__ import annotations

from collections.abc import Mapping

LETTER_SCALE: dict[str, float] = {"A": 4.0, "AB": 3.5, "B": 3.0, "BC": 2.5, "C": 2.0, "D": 1.0, "E": 0.0}
PLUS_MINUS_SCALE: dict[str, float] = {"A": 4.0, "A-": 3.7, "B+": 3.3, "B": 3.0, "B-": 2.7, "C+": 2.3, "C": 2.0,
                                      "C-": 1.7, "D": 1.0, "E": 0.0}
SCALES = {"AB": LETTER_SCALE, "plus-minus": PLUS_MINUS_SCALE}


def weight(scale: Mapping[str, float], grade: str) -> float | None:
    return scale.get(grade.strip().upper())


def at_least(scale: Mapping[str, float], grade: str, minimum: str) -> bool | None:
    """Is ``grade`` at least ``minimum`` on ``scale``? None when either is not on it."""
    have, need = weight(scale, grade), weight(scale, minimum)
    if have is None or need is None:
        return None
    return have >= need
