"""``labgate-models evaluate people --gallery-sizes``: the kiosk's decisions as the gallery grows.

For each size G, G people (a fixed random order, so each gallery holds the smaller ones) are enrolled
with their first ``--enrol`` photos and searched with their other photos; every stranger photo is
searched against each gallery. Decisions are made as the kiosk makes them, at the τ_accept the model's
manifest gives for a gallery of G (``FaceEngine.thresholds_for``), which is chosen on the build's
calibration faces, none of which the figures count. Each search is decided twice:

- per photo: the photo alone, one decision;
- per walk-up: a sequence of ``n`` frames made from the photo (the photo, then copies shifted by up to
  4 px, scaled by up to 4 %, turned by up to 3 degrees, some blurred and some lighter or darker), each
  embedded and decided, and the kiosk's own k-of-n vote over them (``models.votes.Vote``). Frames of
  one photo are far more alike than a real walk-up's, so the vote gains less here than at a door.

The same searches at the model's fixed τ_accept are shown beside, and FNIR at FPIR 0.3 % (the
threshold that lets 0.3 % of these strangers in, whatever the kiosk uses) for each size.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models import metrics
from models.decision import Decision, Outcome, decide
from models.engine import FaceEngine
from models.gallery import Gallery
from models.runtime import Thresholds
from models.tools.progress import bar
from models.tools.report import Report, curves_figure, percent
from models.tools.searches import STRANGER, PeopleSet, Searches, embed, search
from models.votes import Vote

FNIR_AT = 0.003  # the FPIR the FNIR curve is read at
OUTCOMES = ("accept", "wrong_person", "look_again", "unknown", "no_face")


def walkup_frames(crop: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` frames of one walk-up made from an embedder crop: the crop itself, then jittered copies."""
    h, w = crop.shape[:2]
    frames = [crop]
    for _ in range(n - 1):
        angle, scale = rng.uniform(-3, 3), rng.uniform(0.96, 1.04)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale).astype(np.float64)
        matrix[:, 2] = matrix[:, 2] + rng.uniform(-4, 4, size=2)
        frame = cv2.warpAffine(crop, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if rng.random() < 0.5:
            frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 1.2))
        gain = rng.uniform(0.9, 1.1)
        frames.append(np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return np.stack(frames)


def walkup_embeddings(engine: FaceEngine, photos: PeopleSet, paths: list[Path], n: int,
                      seed: int = 0) -> dict[Path, np.ndarray]:
    """(n, d) frame embeddings of each photo's simulated walk-up (photos without a face are left out)."""
    usable = [p for p in paths if p in photos.crops]
    rng = np.random.default_rng(seed)
    stacks = [walkup_frames(photos.crops[p], n, rng) for p in usable]
    if not stacks:
        return {}
    vectors = embed(engine, np.concatenate(stacks))
    return {p: vectors[i * n:(i + 1) * n] for i, p in enumerate(usable)}


def vote_walkup(gallery: Gallery, frames: np.ndarray, thresholds: Thresholds, k: int, n: int) -> Decision:
    """The kiosk's verdict on one walk-up as a decision: the frames decided one by one, k of n voted."""
    vote = Vote(k, n)
    last = None
    for frame in frames:
        decision = decide(gallery.match(frame, gallery.model_id), thresholds)
        last = decision
        verdict = vote.add(decision)
        if verdict is not None:
            person = verdict.person if verdict.outcome is Outcome.ACCEPT else None
            return Decision(verdict.outcome, person, person or decision.candidate, verdict.score, verdict.margin)
    assert last is not None
    return Decision(Outcome.LOOK_AGAIN, None, last.candidate, last.score, last.margin)


def outcome_of(name: str | None, decision: Decision | None) -> str:
    if decision is None:
        return "no_face"
    if decision.outcome is Outcome.ACCEPT:
        return "accept" if name is None or decision.person == name else "wrong_person"
    return decision.outcome.value


def counts(searches: Searches, decisions: list[Decision | None]) -> dict[str, dict[str, int]]:
    known: Counter[str] = Counter({k: 0 for k in OUTCOMES})
    strangers: Counter[str] = Counter({k: 0 for k in OUTCOMES if k != "wrong_person"})
    for name, decision in zip(searches.names, decisions, strict=True):
        (strangers if name is None else known)[outcome_of(name, decision)] += 1
    return {"known": dict(known), "strangers": dict(strangers)}


@dataclass
class SizeRun:
    size: int
    thresholds: Thresholds
    searches: Searches
    photo: list[Decision | None]
    walkup: list[Decision | None]
    fixed: list[Decision | None]


def run_sizes(engine: FaceEngine, photos: PeopleSet, enrol: int, sizes: list[int], vote: tuple[int, int],
              seed: int = 0, not_counted: frozenset[str] = frozenset()) -> list[SizeRun]:
    """Enrol G people for each G of ``sizes`` and decide every search per photo and per walk-up.
    Stranger photos named in ``not_counted`` (those τ was calibrated on) are left out."""
    photos = replace(photos, strangers=[p for p in photos.strangers if p.name not in not_counted])
    everyone = sorted(photos.people)
    if not sizes or min(sizes) < 1 or max(sizes) > len(everyone):
        raise ValueError(f"--gallery-sizes must be between 1 and the {len(everyone)} people of {photos.known}, "
                         f"got {sizes}")
    order = [everyone[i] for i in np.random.default_rng(seed).permutation(len(everyone))]
    k, n = vote
    probes = [p for person in everyone for p in photos.people[person][enrol:]] + list(photos.strangers)
    frames = walkup_embeddings(engine, photos, probes, n, seed)
    runs = []
    for size in bar("gallery sizes", unit="size")(sorted(sizes)):
        chosen = order[:size]
        part = replace(photos, people={p: photos.people[p] for p in chosen})
        found = search(engine, part, {p: photos.people[p][:enrol] for p in chosen})
        thresholds = engine.thresholds_for(len(found.gallery))
        walk = [None if e is None or p not in frames else vote_walkup(found.gallery, frames[p], thresholds, k, n)
                for p, e in zip(found.probes, found.embeddings, strict=True)]
        runs.append(SizeRun(size, thresholds, found, found.decisions(thresholds), walk,
                            found.decisions(engine.thresholds)))
    return runs


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 6) if total else None


def size_summary(run: SizeRun) -> dict[str, Any]:
    found, t = run.searches, run.thresholds
    known_n, stranger_n = int((found.truth != STRANGER).sum()), int((found.truth == STRANGER).sum())
    figures: dict[str, Any] = {
        "gallery_size": run.size,
        "enrolled": len(found.gallery),
        "known_searches": known_n,
        "stranger_searches": stranger_n,
        "accept": t.accept,
        "unknown": t.unknown,
        "margin": t.margin,
        "expected_fpir": t.expected_fpir,
        "rank1": round(metrics.rank1(found.scores, found.truth), 4),
        "fnir_at_fpir": metrics.fnir_at_fpir(found.scores, found.truth, FNIR_AT),
    }
    for mode, decisions in (("per_photo", run.photo), ("per_walkup", run.walkup), ("fixed_tau_per_photo", run.fixed)):
        c = counts(found, decisions)
        figures[mode] = {**c,
                         "strangers_accepted": _rate(c["strangers"]["accept"], stranger_n),
                         "wrong_person": _rate(c["known"]["wrong_person"], known_n),
                         "self_accepted": _rate(c["known"]["accept"], known_n)}
    return figures


def write_csv(path: Path, runs: list[SizeRun], enrol: int) -> None:
    """One line per search, gallery size and mode: which stranger was taken for whom."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["gallery_size", "mode", "probe", "truth", "outcome", "decided_person", "best_person",
                         "score", "margin", "accept_threshold"])
        for run in runs:
            for mode, decisions, t in (("photo", run.photo, run.thresholds.accept),
                                       ("walkup", run.walkup, run.thresholds.accept)):
                for probe, name, d in zip(run.searches.probes, run.searches.names, decisions, strict=True):
                    writer.writerow([run.size, mode, f"{probe.parent.name}/{probe.name}", name or "(stranger)",
                                     outcome_of(name, d), (d.person or "") if d else "",
                                     (d.candidate or "") if d else "", f"{d.score:.4f}" if d else "",
                                     f"{d.margin:.4f}" if d else "", t])


def table_rows(sizes: list[dict[str, Any]]) -> tuple[list[str], list[list[object]]]:
    header = ["enrolled", "τ_accept", "expected ≤", "strangers accepted (photo)", "(walk-up)",
              "(photo, fixed τ)", "wrong person (photo / walk-up)", "self accepted (photo)", "(walk-up)",
              f"FNIR at FPIR {FNIR_AT * 100:g} %", "rank-1"]
    rows: list[list[object]] = []
    for s in sizes:
        photo, walk, fixed = s["per_photo"], s["per_walkup"], s["fixed_tau_per_photo"]
        rows.append([s["enrolled"], f"{s['accept']:.4f}",
                     percent(s["expected_fpir"], 2) if s["expected_fpir"] is not None else "–",
                     f"{photo['strangers']['accept']}/{s['stranger_searches']}",
                     f"{walk['strangers']['accept']}/{s['stranger_searches']}",
                     f"{fixed['strangers']['accept']}/{s['stranger_searches']}",
                     f"{photo['known']['wrong_person']} / {walk['known']['wrong_person']}",
                     percent(photo["self_accepted"], 1), percent(walk["self_accepted"], 1),
                     percent(s["fnir_at_fpir"]["fnir"], 1), percent(s["rank1"], 1)])
    return header, rows


def report_section(report: Report, runs: list[SizeRun], sizes: list[dict[str, Any]], vote: tuple[int, int],
                   target_fpir: float, folder: Path, enrol: int, not_counted: int = 0) -> None:
    report.text("## As the gallery grows",
                f"τ_accept for each gallery size from the model's calibration data at {target_fpir:g} strangers "
                f"accepted per walk-up (config.toml [decision] target_fpir); walk-ups are {vote[1]} frames made from "
                f"each photo, voted {vote[0]} of {vote[1]} as the kiosk votes. 'expected ≤' is what the calibration "
                f"data predicts per decision. {not_counted} stranger photos that τ was calibrated on are not counted.")
    header, rows = table_rows(sizes)
    report.table(header, rows)
    xs = [s["enrolled"] for s in sizes]
    report.figure("gallery_sizes.png", curves_figure(
        xs, {"strangers accepted per photo (kiosk τ)": [s["per_photo"]["strangers_accepted"] or 0 for s in sizes],
             "strangers accepted per walk-up (kiosk τ)": [s["per_walkup"]["strangers_accepted"] or 0 for s in sizes],
             "strangers accepted per photo (fixed τ)": [s["fixed_tau_per_photo"]["strangers_accepted"] or 0
                                                        for s in sizes]},
        "people enrolled", "FPIR and FNIR against gallery size",
        right={f"FNIR at FPIR {FNIR_AT * 100:g} %": [s["fnir_at_fpir"]["fnir"] for s in sizes],
               "people missed per walk-up (kiosk τ)": [1 - (s["per_walkup"]["self_accepted"] or 0) for s in sizes]}),
        "FPIR and FNIR against gallery size")
    write_csv(folder / "searches_by_gallery_size.csv", runs, enrol)
    report.link("searches_by_gallery_size.csv", "every search at every size, per photo and per walk-up, with whom "
                "it was taken for (searches_by_gallery_size.csv)")
