"""The face engine on real photos: enrol K photos per person, identify the rest and strangers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.datasets import image_files, people
from models.decision import Decision, Outcome
from models.engine import FaceEngine, NoFace
from models.images import ImageError, read_image


@dataclass(frozen=True)
class Row:
    photo: str
    truth: str | None  # enrolled person, or None for a stranger
    decision: Decision | None  # None when the photo had no usable face
    note: str = ""

    @property
    def correct(self) -> bool:
        if self.decision is None:
            return False
        if self.truth is None:
            return self.decision.outcome is not Outcome.ACCEPT
        return self.decision.outcome is Outcome.ACCEPT and self.decision.person == self.truth


def run(engine: FaceEngine, known: Path, unknown: Path, enrol: int = 4) -> tuple[list[Row], dict[str, list[str]]]:
    """Enrol the first ``enrol`` photos of each person in ``known``; decide on every other photo."""
    gallery = engine.new_gallery()
    rejected: dict[str, list[str]] = {}
    probes: list[tuple[Path, str | None]] = []
    for person, photos in people(known).items():
        vectors: list[np.ndarray] = []
        for photo in photos[:enrol]:
            try:
                result = engine.embed_photo(read_image(photo), check_quality=False)
                assert result.embedding is not None
                vectors.append(result.embedding)
            except (ImageError, NoFace) as exc:
                rejected.setdefault(person, []).append(f"{photo.name}: {exc}")
        if vectors:
            gallery.add(person, np.stack(vectors), engine.model_id)
        probes += [(photo, person) for photo in photos[enrol:]]
    probes += [(photo, None) for photo in image_files(unknown)]
    rows = []
    for photo, truth in probes:
        try:
            result = engine.embed_photo(read_image(photo), check_quality=False)
        except (ImageError, NoFace) as exc:
            rows.append(Row(photo.name, truth, None, str(exc)))
            continue
        assert result.embedding is not None
        rows.append(Row(photo.name, truth, engine.identify(result.embedding, gallery)))
    return rows, rejected


def table(rows: list[Row]) -> str:
    lines = [f"{'photo':<36} {'who':<24} {'decision':<11} {'as':<24} {'score':>6}"]
    for row in rows:
        d = row.decision
        outcome = d.outcome.value if d else "no face"
        shown = (d.person or "") if d else row.note
        score = f"{d.score:6.3f}" if d else ""
        mark = "" if row.correct else "  <-- wrong"
        lines.append(f"{row.photo:<36} {row.truth or '(stranger)':<24} {outcome:<11} {shown:<24} {score}{mark}")
    return "\n".join(lines)


def summary(rows: list[Row]) -> dict[str, float]:
    known = [r for r in rows if r.truth is not None]
    strangers = [r for r in rows if r.truth is None]
    accepted_right = sum(r.correct for r in known)
    wrong_person = sum(1 for r in known if r.decision and r.decision.outcome is Outcome.ACCEPT and not r.correct)
    rank1 = sum(1 for r in known if r.decision and r.decision.candidate == r.truth)
    strangers_accepted = sum(1 for r in strangers if r.decision and r.decision.outcome is Outcome.ACCEPT)
    return {
        "known_probes": len(known),
        "rank1": rank1 / max(len(known), 1),
        "accepted_correctly": accepted_right / max(len(known), 1),
        "accepted_wrong_person": wrong_person,
        "strangers": len(strangers),
        "strangers_accepted": strangers_accepted / max(len(strangers), 1),
    }
