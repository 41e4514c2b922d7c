"""``labgate-models evaluate``: measure the run-time pipeline (decode, detect, crop, embed, match) on
real photos and write a report folder.

- ``pairs``: verification on labelled pairs (LFW protocol: 10-fold when the file has folds, else one
  split dealt into 10): accuracy ± std, ROC, AUC, EER, TAR at FAR 1e-2, 1e-3, 1e-4.
- ``people``: open-set identification on a folder-per-person set: enrol K photos per person, search
  with the rest and with strangers: rank-1, FNIR at FPIR 1 % and 0.3 %, the kiosk's decisions at its
  current thresholds, and the confusion matrix of those decisions.

Photos without a usable face are counted and listed, never dropped: a pair with such a photo scores
-1, and such a search answers nothing (a known person's search is then a miss).
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import metrics
from models.calibration import best_threshold, deal_folds
from models.datasets import Pair
from models.decision import Decision, Outcome
from models.engine import FaceEngine
from models.evaluation import FaceSet, all_pair_scores, crop_faces, find_faces, identity_of, pair_scores
from models.runtime import Thresholds
from models.tools.progress import bar
from models.tools.report import Report, confusion_figure, histogram_figure, percent, roc_figure, tsne_figure
from models.tools.searches import STRANGER, PeopleSet, Searches, embed, first_photos, search


@dataclass
class PairsRun:
    """Every pair scored by the run-time pipeline."""

    pairs: list[Pair]
    faces: FaceSet
    embeddings: dict[Path, np.ndarray]
    scores: np.ndarray
    same: np.ndarray
    folds: np.ndarray  # the folds accuracy is cross-validated over (the file's, or dealt)
    missing: int  # pairs with a photo without a face


def run_pairs(engine: FaceEngine, pairs: list[Pair], faces: FaceSet | None = None) -> PairsRun:
    """Detect the primary face of each photo once (unless ``faces`` are given), crop and embed as the
    engine's embedder does at run time, and score every pair."""
    if not pairs:
        raise ValueError("no pairs to evaluate")
    paths = sorted({p for pair in pairs for p in (pair.a, pair.b)})
    found = faces if faces is not None else find_faces(engine, paths, bar("faces"))
    crops = crop_faces(found, engine.embedder.manifest.alignment, engine.embedder.size)
    embeddings = dict(zip(crops.paths, embed(engine, crops.crops), strict=True))
    scores, same, missing = pair_scores(embeddings, pairs)
    folds = np.array([p.fold for p in pairs])
    if len(np.unique(folds)) < 2:
        folds = deal_folds(same)
    return PairsRun(pairs, found, embeddings, scores, same, folds, missing)


def pairs_summary(engine: FaceEngine, run: PairsRun, source: str, lfw_identities: bool) -> dict[str, Any]:
    """The verification figures (and, for LFW-named photos, the same over every labelled pair of the
    photos, which resolves much lower FARs), the model's thresholds applied, and failures."""
    figures = metrics.verification(run.scores, run.same, run.folds)
    summary: dict[str, Any] = {
        "command": "evaluate pairs",
        "source": source,
        "model_id": engine.model_id,
        "model_file": engine.embedder.path.name,
        "protocol": (f"{len(np.unique(run.folds))} folds from the file" if len({p.fold for p in run.pairs}) > 1
                     else "one split dealt into 10 folds"),
        **figures,
        "at_model_thresholds": _at_thresholds(run.scores[run.same], run.scores[~run.same], engine.thresholds),
        "detection": _failures(len(run.faces.paths), run.faces.failures, run.missing),
    }
    if lfw_identities and run.embeddings:
        paths = sorted(run.embeddings)
        genuine, impostor = all_pair_scores(np.stack([run.embeddings[p] for p in paths]),
                                            [identity_of(p) for p in paths])
        rate, threshold = metrics.eer(genuine, impostor)
        summary["all_pairs"] = {
            "images": len(paths), "genuine": len(genuine), "impostor": len(impostor),
            "auc": round(metrics.auc(genuine, impostor), 5),
            "eer": round(rate, 4),
            "eer_threshold": round(threshold, 4),
            "tar_at_far": {f"{far:g}": metrics.tar_at_far(genuine, impostor, far) for far in metrics.FAR_TARGETS},
        }
    return summary


def _at_thresholds(genuine: np.ndarray, impostor: np.ndarray, t: Thresholds) -> dict[str, Any]:
    return {
        "accept": t.accept, "unknown": t.unknown, "calibrated_on": t.calibrated_on,
        "genuine_accepted": round(float((genuine >= t.accept).mean()), 4) if len(genuine) else None,
        "impostor_accepted": round(float((impostor >= t.accept).mean()), 4) if len(impostor) else None,
        "genuine_below_unknown": round(float((genuine < t.unknown).mean()), 4) if len(genuine) else None,
        "impostor_below_unknown": round(float((impostor < t.unknown).mean()), 4) if len(impostor) else None,
    }


def _failures(with_face: int, failures: dict[Path, str], affected: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "photos": with_face + len(failures),
        "failed": len(failures),
        "failures": {_short(p): why for p, why in sorted(failures.items())},
    }
    if affected is not None:
        found["pairs_with_failure"] = affected
    return found


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def _short(path: Path) -> str:
    """A photo as reports name it: person folder and file (never a whole path)."""
    return f"{path.parent.name}/{path.name}"


def cv_confusion(run: PairsRun) -> np.ndarray:
    """2x2 counts (truth same/different x decided same/different), each pair judged with the threshold
    chosen on the other folds (so the matrix adds up to the cross-validated accuracy)."""
    decided = np.zeros(len(run.scores), dtype=bool)
    for fold in np.unique(run.folds):
        test = run.folds == fold
        decided[test] = run.scores[test] >= best_threshold(run.scores[~test], run.same[~test])
    return np.array([[np.sum(run.same & decided), np.sum(run.same & ~decided)],
                     [np.sum(~run.same & decided), np.sum(~run.same & ~decided)]])


def write_pairs_report(folder: Path, engine: FaceEngine, run: PairsRun, summary: dict[str, Any],
                       extra: list[tuple[str, Any]] | None = None) -> Path:
    """summary.md with the figures, the plots, and pair_scores.csv (one line per pair)."""
    report = Report(folder, f"Verification: {summary['source']}")
    t = engine.thresholds
    report.text(f"Model `{engine.model_id}` ({engine.embedder.path.name}); {_now()}.",
                f"{summary['pairs']} pairs ({summary['genuine']} same, {summary['impostor']} different); "
                f"protocol: {summary['protocol']}, each fold's threshold chosen on the other folds.")
    tar = summary["tar_at_far"]
    rows: list[list[object]] = [
        ["accuracy", f"{percent(summary['accuracy'])} ± {percent(summary['accuracy_std'])}"],
        ["ROC AUC", f"{summary['auc']:.5f}"],
        ["EER", f"{percent(summary['eer'])} (threshold {summary['eer_threshold']:.3f})"],
    ]
    for far, value in tar.items():
        note = "" if value["resolved"] else f" (below resolution: 1 impostor = {summary['far_resolution']:.1e})"
        rows.append([f"TAR at FAR {far}", f"{percent(value['tar'])} at threshold {value['threshold']:.3f}{note}"])
    rows.append(["d'", f"{summary['d_prime']:.2f}"])
    report.table(["figure", "value"], rows)
    if "all_pairs" in summary:
        every = summary["all_pairs"]
        report.text(f"Over every labelled pair of the {every['images']} photos ({every['genuine']} same, "
                    f"{every['impostor']} different), which resolves lower false accept rates:")
        report.table(["figure", "value"], [["ROC AUC", f"{every['auc']:.5f}"], ["EER", percent(every["eer"])]] + [
            [f"TAR at FAR {far}", f"{percent(v['tar'])} at threshold {v['threshold']:.3f}"]
            for far, v in every["tar_at_far"].items()])
    at = summary["at_model_thresholds"]
    report.text(f"At the model's thresholds (τ_accept {t.accept}, τ_unknown {t.unknown}; {t.calibrated_on}): "
                f"same pairs accepted {percent(at['genuine_accepted'])}, different pairs accepted "
                f"{percent(at['impostor_accepted'])}.")
    _failure_section(report, summary["detection"], "pairs with such a photo score -1 (counted as errors)")
    for title, value in extra or []:
        report.text(f"## {title}")
        if isinstance(value, str):
            report.text(value)
        else:
            header, table_rows = value
            report.table(header, table_rows)
    report.text("## Plots")
    genuine, impostor = run.scores[run.same], run.scores[~run.same]
    report.figure("roc.png", roc_figure({"pairs": (genuine, impostor)}, "ROC"), "ROC")
    report.figure("scores.png", histogram_figure({"pairs": (genuine, impostor)},
                                                 {"τ_accept": t.accept, "τ_unknown": t.unknown,
                                                  "EER": summary["eer_threshold"]},
                                                 "Scores of same and different pairs"), "score histograms")
    matrix = cv_confusion(run)
    report.figure("confusion.png", confusion_figure(matrix, ["same", "different"], ["same", "different"],
                                                     "Pairs decided at the cross-validated thresholds"),
                  "confusion matrix")
    paths = sorted(run.embeddings)
    labels: list[str | None] = [identity_of(p) for p in paths]
    if len(set(labels)) <= 1:
        labels = [None] * len(paths)
    vectors = np.stack([run.embeddings[p] for p in paths]) if paths else np.zeros((0, 2))
    report.figure("tsne.png", tsne_figure({"photos": (vectors, labels)}, "t-SNE of the embeddings (people "
                                          "with the most photos in colour)"), "t-SNE")
    with (folder / "pair_scores.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "same", "fold", "score"])
        for pair, score, fold in zip(run.pairs, run.scores, run.folds, strict=True):
            writer.writerow([_short(pair.a), _short(pair.b), int(pair.same), int(fold), f"{score:.6f}"])
    report.link("pair_scores.csv", "every pair's score (pair_scores.csv)")
    report.link("summary.json", "all figures as JSON (summary.json)")
    return report.write(summary)


def _failure_section(report: Report, detection: dict[str, Any], consequence: str) -> None:
    report.text("## Detection failures",
                f"{detection['failed']} of {detection['photos']} photos had no usable face; {consequence}.")
    if detection["failures"]:
        report.table(["photo", "reason"], list(detection["failures"].items()))


# --- people: open-set identification ------------------------------------------------------------


OUTCOMES = ("accept", "wrong_person", "look_again", "unknown", "no_face")


def decision_counts(searches: Searches, decisions: list[Decision | None]) -> dict[str, dict[str, int]]:
    """What the kiosk would do with each search: enrolled people's and strangers' outcomes."""
    known: Counter[str] = Counter({k: 0 for k in OUTCOMES})
    strangers: Counter[str] = Counter({k: 0 for k in OUTCOMES if k != "wrong_person"})
    for name, decision in zip(searches.names, decisions, strict=True):
        if decision is None:
            outcome = "no_face"
        elif decision.outcome is Outcome.ACCEPT:
            outcome = "accept" if name is None or decision.person == name else "wrong_person"
        else:
            outcome = decision.outcome.value
        (strangers if name is None else known)[outcome] += 1
    return {"known": dict(known), "strangers": dict(strangers)}


def decision_matrix(searches: Searches, decisions: list[Decision | None]) -> tuple[np.ndarray, list[str], list[str]]:
    """Confusion matrix of the kiosk's decisions: truth (each person, then strangers) against the
    decision (accepted as each person, look again, unknown, no face)."""
    people = sorted({n for n in searches.names if n is not None} | set(searches.columns))
    rows = [*people, "(stranger)"]
    columns = [*people, "look again", "unknown", "no face"]
    matrix = np.zeros((len(rows), len(columns)), dtype=np.int64)
    row_of = {p: i for i, p in enumerate(people)}
    for name, decision in zip(searches.names, decisions, strict=True):
        r = row_of[name] if name is not None else len(people)
        if decision is None:
            c = len(people) + 2
        elif decision.outcome is Outcome.ACCEPT and decision.person is not None:
            c = row_of[decision.person]
        else:
            c = len(people) + (0 if decision.outcome is Outcome.LOOK_AGAIN else 1)
        matrix[r, c] += 1
    return matrix, rows, columns


def people_summary(engine: FaceEngine, photos: PeopleSet, searches: Searches,
                   enrol: int) -> tuple[dict[str, Any], list[Decision | None]]:
    t = engine.thresholds_for(len(searches.gallery))  # the kiosk's τ for a gallery of this size
    decisions = searches.decisions(t)
    counts = decision_counts(searches, decisions)
    known_n, stranger_n = int((searches.truth != STRANGER).sum()), int((searches.truth == STRANGER).sum())
    matrix, rows, columns = decision_matrix(searches, decisions)
    not_enrolled = sorted(set(photos.people) - set(searches.enrolled))
    summary: dict[str, Any] = {
        "command": "evaluate people",
        "known": str(photos.known),
        "unknown": str(photos.unknown) if photos.unknown else None,
        "held_out_as_strangers": photos.held_out,
        "model_id": engine.model_id,
        "model_file": engine.embedder.path.name,
        "enrol": enrol,
        "people": len(photos.people),
        "enrolled": len(searches.enrolled),
        "not_enrolled": not_enrolled,
        "templates": int(sum(len(v) for v in searches.enrolled.values())),
        "known_probes": known_n,
        "stranger_probes": stranger_n,
        "rank1": round(metrics.rank1(searches.scores, searches.truth), 4),
        "fnir_at_fpir": {f"{f:g}": metrics.fnir_at_fpir(searches.scores, searches.truth, f)
                         for f in metrics.FPIR_TARGETS},
        "decisions": {
            "thresholds": {"accept": t.accept, "unknown": t.unknown, "margin": t.margin,
                           "calibrated_on": t.calibrated_on, "gallery_size": t.gallery_size,
                           "expected_fpir": t.expected_fpir, "fixed_accept": engine.thresholds.accept},
            "at_fixed_accept": decision_counts(searches, searches.decisions(engine.thresholds)),
            **counts,
            "rates": {
                "known_accepted_correctly": _rate(counts["known"]["accept"], known_n),
                "known_wrong_person": _rate(counts["known"]["wrong_person"], known_n),
                "known_look_again": _rate(counts["known"]["look_again"], known_n),
                "known_unknown": _rate(counts["known"]["unknown"], known_n),
                "strangers_accepted": _rate(counts["strangers"]["accept"], stranger_n),
                "strangers_look_again": _rate(counts["strangers"]["look_again"], stranger_n),
                "strangers_unknown": _rate(counts["strangers"]["unknown"], stranger_n),
            },
        },
        "confusion": {"rows": rows, "columns": columns, "counts": matrix.tolist()},
        "detection": _failures(len(photos.embeddings), photos.failures),
    }
    return summary, decisions


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def evaluate_people(engine: FaceEngine, photos: PeopleSet, enrol: int, folder: Path,
                    gallery_sizes: list[int] | None = None, vote: tuple[int, int] = (3, 5),
                    seed: int = 0, not_counted: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Enrol each person's first ``enrol`` photos, search with the rest and the strangers, and write
    the report folder; returns the summary. With ``gallery_sizes``, also the kiosk's decisions (at
    its τ for each size, per photo and per walk-up) with that many people enrolled."""
    if enrol < 1:
        raise ValueError(f"--enrol must be at least 1, got {enrol}")
    searches = search(engine, photos, first_photos(photos, enrol))
    summary, _ = people_summary(engine, photos, searches, enrol)
    summary["report"] = str(folder)
    sections = None
    if gallery_sizes:
        from models.tools import gallery_sizes as growing

        runs = growing.run_sizes(engine, photos, enrol, gallery_sizes, vote, seed, not_counted)
        left_out = sorted(p.name for p in photos.strangers if p.name in not_counted)
        summary["gallery_sizes"] = {"vote": list(vote), "seed": seed, "target_fpir": engine.settings.target_fpir,
                                    "strangers_not_counted": left_out,
                                    "sizes": [growing.size_summary(r) for r in runs]}

        def sections(report: Report) -> None:
            growing.report_section(report, runs, summary["gallery_sizes"]["sizes"], vote,
                                   engine.settings.target_fpir, folder, enrol, len(left_out))
    write_people_report(folder, engine, photos, searches, summary, sections)
    return summary


def write_people_report(folder: Path, engine: FaceEngine, photos: PeopleSet, searches: Searches,
                        summary: dict[str, Any], sections: Callable[[Report], None] | None = None) -> Path:
    report = Report(folder, f"Identification: {summary['known']}")
    t = engine.thresholds_for(len(searches.gallery))
    report.text(f"Model `{engine.model_id}` ({engine.embedder.path.name}); {_now()}.",
                f"Data: {photos.description}. Enrolled the first {summary['enrol']} photos of each person "
                f"({summary['enrolled']} people, {summary['templates']} templates); searched with "
                f"{summary['known_probes']} photos of enrolled people and {summary['stranger_probes']} of strangers.")
    rows: list[list[object]] = [["rank-1 (best person is right)", percent(summary["rank1"])]]
    for fpir, value in summary["fnir_at_fpir"].items():
        note = "" if value["resolved"] else " (below this set's resolution: fewer strangers than 1/FPIR)"
        rows.append([f"FNIR at FPIR {float(fpir) * 100:g} %",
                     f"{percent(value['fnir'])} at threshold {value['threshold']:.3f}, measured FPIR "
                     f"{percent(value['fpir_measured'])}{note}"])
    report.table(["figure", "value"], rows)
    d = summary["decisions"]
    report.text("## What the kiosk would decide",
                f"At its current thresholds: τ_accept {t.accept}, τ_unknown {t.unknown}, margin {t.margin} "
                f"({t.calibrated_on}); one photo per decision (the kiosk votes over several frames).")
    report.table(["searches", "accept (right person)", "wrong person", "look again", "unknown", "no face"], [
        ["enrolled people"] + [f"{d['known'][k]} ({percent(_share(d['known'][k], summary['known_probes']), 1)})"
                               for k in OUTCOMES],
        ["strangers", f"{d['strangers']['accept']} (accepted as someone: "
                      f"{percent(_share(d['strangers']['accept'], summary['stranger_probes']), 1)})", "–"]
        + [f"{d['strangers'][k]} ({percent(_share(d['strangers'][k], summary['stranger_probes']), 1)})"
           for k in ("look_again", "unknown", "no_face")],
    ])
    if summary["not_enrolled"]:
        report.text(f"Not enrolled (no usable face in any enrolment photo): {', '.join(summary['not_enrolled'])}; "
                    "their searches count as misses.")
    _failure_section(report, summary["detection"], "a search with such a photo answers nothing (a miss for an "
                     "enrolled person, a rejection for a stranger)")
    if sections is not None:
        sections(report)
    report.text("## Plots")
    genuine, impostor = metrics.person_scores(searches.scores, searches.truth)
    best = metrics.top_scores(searches.scores)
    strangers_best = best[(searches.truth == STRANGER) & (best > metrics.NO_RESULT)]
    curves = {"per person (probe vs each enrolled person)": (genuine, impostor)}
    if len(strangers_best):
        mated = searches.truth >= 0
        curves["per search (own person vs strangers' best)"] = (
            np.nan_to_num(searches.scores[mated, searches.truth[mated]], nan=metrics.NO_RESULT), strangers_best)
    report.figure("roc.png", roc_figure(curves, "ROC"), "ROC")
    report.figure("scores.png", histogram_figure(
        {"per person": (genuine, impostor)},
        {"τ_accept": t.accept, "τ_unknown": t.unknown}, "Scores: probe vs own person and vs others"),
                  "score histograms")
    matrix = np.array(summary["confusion"]["counts"])
    report.figure("confusion.png", confusion_figure(matrix, summary["confusion"]["rows"],
                                                     summary["confusion"]["columns"],
                                                     "The kiosk's decisions (truth down, decision across)"),
                  "confusion matrix")
    paths = [p for p in [*[q for ps in photos.people.values() for q in ps], *photos.strangers]
             if p in photos.embeddings]
    owner = {p: person for person, ps in photos.people.items() for p in ps}
    vectors = np.stack([photos.embeddings[p] for p in paths]) if paths else np.zeros((0, 2))
    title = "t-SNE of the embeddings (strangers, and people past the first 18, in grey)"
    report.figure("tsne.png", tsne_figure({"photos": (vectors, [owner.get(p) for p in paths])}, title), "t-SNE")
    report.link("summary.json", "all figures as JSON (summary.json)")
    return report.write(summary)


def _share(count: int, total: int) -> float | None:
    return count / total if total else None
