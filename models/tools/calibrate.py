"""``labgate-models calibrate``: the kiosk's thresholds from the lab's own people, for a stated
false-match rate, written into the model's manifest with the data they came from.

- τ_accept: the kiosk compares a face with every enrolled person (best of that person's templates).
  A stranger is falsely accepted if any of the G people scores at or above τ_accept, so a target
  FPIR (strangers accepted as someone) at gallery size G needs a per-comparison false-match rate of
  FMR = 1 - (1 - FPIR)^(1/G). τ_accept is the lowest threshold with at most that share of impostor
  comparisons at or above it, over R random enrolments of K photos per person (more comparisons,
  finer resolution).
- τ_unknown: the same at the looser ``--unknown-fmr``; strangers between the two are asked to look
  again instead of being told "unknown".
- margin: the largest margin (to 0.01) that turns at most ``--margin-loss`` of the correct would-be
  accepts into "look again".

The false-match rate at τ_accept is then measured on the set, and cross-checked by choosing τ on one
half of the identities and measuring on the other. Random enrolments multiply comparisons, not
evidence: the same probe photo meets the same person in every round. So a rate counts as
*resolved* only when the set has at least 5 distinct (probe photo, enrolled person) impostor pairs
expected at or above τ (target x distinct pairs >= 5); the figures say how many distinct pairs the
measured rate rests on. On lfw_people (about 12,000 distinct pairs) FMR 1e-4 is not resolved: its
tail rests on about one look-alike pair.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from models import catalog, metrics
from models.calibration import impostor_tail, threshold_at_fmr
from models.engine import FaceEngine
from models.runtime import Thresholds, read_manifest
from models.tools.evaluate import decision_counts
from models.tools.model_folder import copy_embedder, start_folder, update_index, write_folder_index
from models.tools.report import Report, curves_figure, histogram_figure, percent, roc_figure
from models.tools.searches import PeopleSet, Searches, load_people, random_photos, search

FALLBACK_MARGIN = 0.05
MIN_EXPECTED_PAIRS = 5  # a rate is resolved when at least this many distinct impostor pairs are expected above τ


@dataclass(frozen=True)
class Targets:
    fmr: float  # per comparison of a face with one enrolled person
    unknown_fmr: float
    margin_loss: float
    fpir: float | None = None  # what the FMR was derived from, if it was
    gallery_size: int | None = None

    @classmethod
    def from_fpir(cls, fpir: float, gallery_size: int, unknown_fmr: float, margin_loss: float) -> Targets:
        if not 0 < fpir < 1 or gallery_size < 1:
            raise ValueError(f"--target-fpir must be in (0, 1) and --gallery-size >= 1, got {fpir}, {gallery_size}")
        return cls(1.0 - (1.0 - fpir) ** (1.0 / gallery_size), unknown_fmr, margin_loss, fpir, gallery_size)

    def __post_init__(self) -> None:
        for name, value in (("false-match rate", self.fmr), ("--unknown-fmr", self.unknown_fmr),
                            ("--margin-loss", self.margin_loss)):
            if not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")


@dataclass
class Pooled:
    """Per-person comparisons over every random enrolment."""

    genuine: np.ndarray
    impostor: np.ndarray
    impostor_half: np.ndarray  # 0/1: the half of the identities the impostor comparison's probe is in
    impostor_pair: np.ndarray  # id of the comparison's (probe photo, enrolled person) pair, the same every round
    accepted_margins: np.ndarray  # best minus next, of mated searches whose best person is right
    accepted_best: np.ndarray
    wrong_best: np.ndarray  # mated searches whose best person is wrong: their best score and margin
    wrong_margins: np.ndarray
    rounds: list[Searches]


def pool(engine: FaceEngine, photos: PeopleSet, enrol: int, rounds: int, seed: int) -> Pooled:
    if enrol < 1 or rounds < 1:
        raise ValueError(f"--enrol and --rounds must be at least 1, got {enrol} and {rounds}")
    short = [p for p, paths in photos.people.items() if len(paths) <= enrol]
    if len(short) == len(photos.people):
        raise ValueError(f"every person has {enrol} photos or fewer: nothing is left to search with; lower --enrol")
    rng = np.random.default_rng(seed)
    people_half = {p: i % 2 for i, p in enumerate(sorted(photos.people))}
    stranger_half = {p: i % 2 for i, p in enumerate(photos.strangers)}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("genuine", "impostor", "half", "pair", "am", "ab", "wb",
                                                          "wm")}
    pair_ids: dict[tuple[Path, str], int] = {}
    done = []
    for _ in range(rounds):
        found = search(engine, photos, random_photos(photos, enrol, rng))
        done.append(found)
        genuine, impostor = metrics.person_scores(found.scores, found.truth)
        parts["genuine"].append(genuine)
        parts["impostor"].append(impostor)
        answered = ~np.isnan(found.scores).any(axis=1)
        half = np.array([people_half[n] if n is not None else stranger_half[p]
                         for n, p in zip(found.names, found.probes, strict=True)])[answered]
        rows, truth = found.scores[answered], found.truth[answered]
        own = np.zeros(rows.shape, dtype=bool)
        own[np.flatnonzero(truth >= 0), truth[truth >= 0]] = True
        parts["half"].append(np.broadcast_to(half[:, None], rows.shape)[~own])
        probes = [p for p, a in zip(found.probes, answered, strict=True) if a]
        ids = np.array([[pair_ids.setdefault((probe, person), len(pair_ids)) for person in found.columns]
                        for probe in probes], dtype=np.int64).reshape(rows.shape)
        parts["pair"].append(ids[~own])
        if rows.shape[1] >= 1:
            ordered = -np.sort(-rows, axis=1)
            margin = ordered[:, 0] - (ordered[:, 1] if rows.shape[1] > 1 else 0.0)
            right = (truth >= 0) & (np.argmax(rows, axis=1) == truth)
            wrong = (truth >= 0) & ~right
            parts["am"].append(margin[right])
            parts["ab"].append(ordered[right, 0])
            parts["wb"].append(ordered[wrong, 0])
            parts["wm"].append(margin[wrong])
    joined = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    return Pooled(joined["genuine"], joined["impostor"], joined["half"].astype(np.int64),
                  joined["pair"].astype(np.int64), joined["am"], joined["ab"], joined["wb"], joined["wm"], done)


def distinct(pairs: np.ndarray) -> int:
    return len(np.unique(pairs))


def choose(pooled: Pooled, targets: Targets, source: str) -> tuple[Thresholds, dict[str, Any]]:
    """The thresholds, and what they were measured to do on the data they were chosen on."""
    if len(pooled.impostor) == 0:
        raise ValueError("no impostor comparisons: calibration needs at least two people, or strangers")
    accept = math.ceil(threshold_at_fmr(pooled.impostor, targets.fmr) * 1e4) / 1e4
    unknown = min(round(threshold_at_fmr(pooled.impostor, targets.unknown_fmr), 4), accept)
    accepts = pooled.accepted_margins[pooled.accepted_best >= accept]
    if len(accepts):
        margin = max(0.0, math.floor(float(np.quantile(accepts, targets.margin_loss, method="lower")) * 100) / 100)
    else:
        margin = FALLBACK_MARGIN
    measured = float((pooled.impostor >= accept).mean())
    pairs = distinct(pooled.impostor_pair)
    cross = {}
    for name, (a, b) in {"a_to_b": (0, 1), "b_to_a": (1, 0)}.items():
        chosen_on, measured_on = pooled.impostor[pooled.impostor_half == a], pooled.impostor[pooled.impostor_half == b]
        if len(chosen_on) and len(measured_on):
            tau = threshold_at_fmr(chosen_on, targets.fmr)
            rate = float((measured_on >= tau).mean())
            half_pairs = pooled.impostor_pair[pooled.impostor_half == b]
            cross[name] = {"threshold": round(tau, 4), "fmr_measured": rate,
                           "ratio_to_target": round(rate / targets.fmr, 3),
                           "distinct_pairs": distinct(half_pairs),
                           "distinct_pairs_at_or_above": distinct(half_pairs[measured_on >= tau]),
                           "resolved": bool(targets.fmr * distinct(half_pairs) >= MIN_EXPECTED_PAIRS)}
    wrong_above = pooled.wrong_best >= accept
    figures = {
        "impostor_comparisons": len(pooled.impostor),
        "genuine_comparisons": len(pooled.genuine),
        "distinct_impostor_pairs": pairs,
        "distinct_pairs_at_or_above_accept": distinct(pooled.impostor_pair[pooled.impostor >= accept]),
        "fmr_measured": measured,
        "fmr_ratio_to_target": round(measured / targets.fmr, 3),
        "resolved": bool(targets.fmr * pairs >= MIN_EXPECTED_PAIRS),
        "genuine_at_or_above_accept": round(float((pooled.genuine >= accept).mean()), 4),
        "genuine_below_unknown": round(float((pooled.genuine < unknown).mean()), 4),
        "margin_from": (f"{len(accepts)} correct searches at or above τ_accept" if len(accepts)
                        else f"no correct search at or above τ_accept; default {FALLBACK_MARGIN}"),
        "wrong_person_at_or_above_accept": int(wrong_above.sum()),
        "wrong_person_blocked_by_margin": int((pooled.wrong_margins[wrong_above] < margin).sum()),
        "cross_check_by_halves": cross,
    }
    text = (f"{source}: {len(pooled.rounds)} random enrolments, {len(pooled.genuine)} genuine and "
            f"{len(pooled.impostor)} impostor comparisons with enrolled people; τ_accept at FMR {targets.fmr:.3g} per "
            f"comparison" + (f" (FPIR {targets.fpir:g} at a gallery of {targets.gallery_size})" if targets.fpir else "")
            + f", measured {measured:.3g}; τ_unknown at FMR {targets.unknown_fmr:g}; margin keeps "
            f"{1 - targets.margin_loss:.0%} of correct accepts; labgate-models calibrate, "
            f"{time.strftime('%Y-%m-%d', time.gmtime())}")
    thresholds = Thresholds(accept=accept, unknown=unknown, margin=margin, target_fmr=float(f"{targets.fmr:.4g}"),
                            calibrated_on=text, impostor_tail=impostor_tail(pooled.impostor),
                            impostor_comparisons=len(pooled.impostor))  # the kiosk's τ for its gallery size
    return thresholds, figures


def totals(pooled: Pooled, thresholds: Thresholds) -> dict[str, dict[str, int]]:
    """The kiosk's decisions over every round's searches at ``thresholds``."""
    total: dict[str, dict[str, int]] = {}
    for found in pooled.rounds:
        for group, counts in decision_counts(found, found.decisions(thresholds)).items():
            for key, value in counts.items():
                total.setdefault(group, {}).setdefault(key, 0)
                total[group][key] += value
    return total


def write(engine: FaceEngine, thresholds: Thresholds, out: Path | None, force: bool = False) -> Path:
    """Store ``thresholds`` in the model's manifest: in a copy of the model folder at ``out``, or in
    place (and the folder's models.json gets the file's new sha256). The model id is unchanged: the
    embeddings are the same, so enrolled galleries stay valid."""
    from models.tools.export import write_manifest  # imports onnx and torch

    source = engine.embedder.path
    manifest = replace(engine.embedder.manifest, thresholds=thresholds)
    if out is None:
        write_manifest(source, manifest)
        update_index(source.parent, source)
        return source
    start_folder(source.parent, out, force)
    target = copy_embedder(source, out)
    write_manifest(target, manifest)
    write_folder_index(out, target.name, {"model": str(source), "sha256": catalog.sha256_of(source),
                                          "by": "labgate-models calibrate"})
    return target


def run(engine: FaceEngine, photos: PeopleSet, targets: Targets, enrol: int, rounds: int, seed: int,
        out: Path | None, folder: Path, force: bool = False) -> dict[str, Any]:
    """Calibrate on ``photos``, write the thresholds (a copy at ``out``, else in place), check that the
    model now carries them, and write the report; returns the summary."""
    pooled = pool(engine, photos, enrol, rounds, seed)
    source = f"{photos.known} ({len(photos.people)} people)" + (
        f" + strangers {photos.unknown} ({len(photos.strangers)})" if photos.unknown else "")
    thresholds, figures = choose(pooled, targets, source)
    previous = engine.thresholds
    written = write(engine, thresholds, out, force)
    stored = read_manifest(written).thresholds
    if stored != thresholds:
        raise RuntimeError(f"{written} did not keep the thresholds written into it: {stored}")
    summary: dict[str, Any] = {
        "command": "calibrate",
        "model_id": engine.model_id,
        "known": str(photos.known),
        "unknown": str(photos.unknown) if photos.unknown else None,
        "people": len(photos.people),
        "stranger_photos": len(photos.strangers),
        "enrol": enrol,
        "rounds": rounds,
        "target": {"fmr": targets.fmr, "fpir": targets.fpir, "gallery_size": targets.gallery_size,
                   "unknown_fmr": targets.unknown_fmr, "margin_loss": targets.margin_loss},
        "thresholds": asdict(thresholds),
        "previous_thresholds": asdict(previous),
        "measured": figures,
        "decisions": {"new": totals(pooled, thresholds), "previous": totals(pooled, previous)},
        "detection": {"photos": len(photos.embeddings) + len(photos.failures), "failed": len(photos.failures),
                      "failures": {f"{p.parent.name}/{p.name}": why for p, why in sorted(photos.failures.items())}},
        "written": str(written),
        "model_folder": str(written.parent),
        "report": str(folder),
    }
    _report(folder, engine, pooled, thresholds, previous, targets, summary)
    return summary


def main(args: argparse.Namespace, engine: FaceEngine, folder: Path) -> int:
    if args.target_fmr is not None:
        targets = Targets(args.target_fmr, args.unknown_fmr, args.margin_loss)
    else:
        targets = Targets.from_fpir(args.target_fpir, args.gallery_size, args.unknown_fmr, args.margin_loss)
    photos = load_people(engine, args.known, args.unknown)
    summary = run(engine, photos, targets, args.enrol, args.rounds, args.seed, args.out, folder,
                  getattr(args, "force", False))
    t, figures = summary["thresholds"], summary["measured"]
    print(f"{photos.description}; model {engine.model_id}")
    print(f"  τ_accept {t['accept']} (FMR {targets.fmr:.3g} per comparison), τ_unknown {t['unknown']}, "
          f"margin {t['margin']}")
    print(f"  measured FMR at τ_accept: {figures['fmr_measured']:.3g} over {figures['impostor_comparisons']} impostor "
          f"comparisons ({figures['fmr_ratio_to_target']}x the target; {figures['distinct_impostor_pairs']} distinct "
          f"pairs, {figures['distinct_pairs_at_or_above_accept']} at or above τ_accept); cross-check by halves: "
          + ", ".join(f"{k} {v['fmr_measured']:.3g} ({v['ratio_to_target']}x)"
                      for k, v in figures["cross_check_by_halves"].items()))
    if not figures["resolved"]:
        print(f"  not resolved: {figures['distinct_impostor_pairs']} distinct impostor pairs cannot show a rate of "
              f"{targets.fmr:.3g} (fewer than {MIN_EXPECTED_PAIRS} expected above τ); add people or strangers")
    print(f"  written to {summary['written']}; the kiosk reads them from there unless config.toml [decision] "
          "overrides")
    print(f"  report: {folder / 'summary.md'}")
    print(json.dumps(summary, sort_keys=True, default=str))
    return 0


def _report(folder: Path, engine: FaceEngine, pooled: Pooled, new: Thresholds, previous: Thresholds,
            targets: Targets, summary: dict[str, Any]) -> None:
    report = Report(folder, f"Calibration: {summary['known']}")
    m = summary["measured"]
    report.text(f"Model `{engine.model_id}`; thresholds written to `{summary['written']}`.", new.calibrated_on)
    report.table(["threshold", "new", "previous"], [
        ["τ_accept", new.accept, previous.accept], ["τ_unknown", new.unknown, previous.unknown],
        ["margin", new.margin, previous.margin]])
    report.table(["figure", "value"], [
        ["target FMR per comparison", f"{targets.fmr:.3g}"],
        ["measured FMR at τ_accept", f"{m['fmr_measured']:.3g} ({m['fmr_ratio_to_target']}x the target)"],
        ["impostor comparisons", f"{m['impostor_comparisons']} (distinct probe photo and person pairs: "
         f"{m['distinct_impostor_pairs']}; at or above τ_accept: {m['distinct_pairs_at_or_above_accept']})"],
        [f"enough for the target (at least {MIN_EXPECTED_PAIRS} distinct pairs expected above τ)",
         "yes" if m["resolved"] else "no: the measured rate is not evidence of the target"],
        ["cross-check: τ from one half of the identities, FMR on the other",
         ", ".join(f"{v['fmr_measured']:.3g} ({v['ratio_to_target']}x; τ {v['threshold']}"
                   f"{'' if v['resolved'] else ', unresolved'})" for v in m["cross_check_by_halves"].values())],
        ["genuine comparisons at or above τ_accept", percent(m["genuine_at_or_above_accept"])],
        ["wrong person ranked first at or above τ_accept", f"{m['wrong_person_at_or_above_accept']}, of which the "
         f"margin blocks {m['wrong_person_blocked_by_margin']}"],
    ])
    report.text("## The kiosk's decisions on these searches (all rounds)")
    rows = []
    for name, counts in summary["decisions"].items():
        k, s = counts["known"], counts["strangers"]
        rows.append([name, k["accept"], k["wrong_person"], k["look_again"], k["unknown"], s["accept"],
                     s["look_again"], s["unknown"]])
    report.table(["thresholds", "enrolled: accept", "wrong person", "look again", "unknown",
                  "strangers: accepted", "look again", "unknown"], rows)
    report.text("## Plots")
    report.figure("scores.png", histogram_figure({"per person": (pooled.genuine, pooled.impostor)},
                                                 {"τ_accept": new.accept, "τ_unknown": new.unknown},
                                                 "Probe vs own person (genuine) and vs others (impostor)"),
                  "score histograms")
    grid = np.linspace(0.2, 0.9, 141)
    rate = [max(float((pooled.impostor >= t).mean()), 1e-7) for t in grid]
    report.figure("fmr.png", curves_figure(grid.tolist(), {"false-match rate per comparison": rate},
                                           "threshold", f"FMR against threshold (target {targets.fmr:.2g})",
                                           log_y=True, marks={"τ_accept": new.accept, "τ_unknown": new.unknown}),
                  "false-match rate against threshold")
    report.figure("roc.png", roc_figure({"per person": (pooled.genuine, pooled.impostor)}, "ROC"), "ROC")
    report.link("summary.json", "all figures as JSON (summary.json)")
    report.write(summary)
