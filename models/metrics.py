"""Accuracy figures a lab can check: verification (ROC, AUC, EER, TAR at FAR) and open-set
identification (rank-1, FNIR at FPIR), from cosine scores.

Plain numpy, no plotting: the tools, tests and benches all compute their figures here. A rate
asked for below what the data can resolve (fewer than one impostor at that rate) is computed all the
same and flagged ``resolved: false``, never quietly reported as if measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.calibration import cross_validated_accuracy, threshold_at_fmr

FAR_TARGETS = (1e-2, 1e-3, 1e-4)
FPIR_TARGETS = (1e-2, 3e-3)
ROC_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
NO_RESULT = -2.0  # the score of a search that returned nothing (no face): below every cosine


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FAR, TAR, threshold) at every distinct score, accepting ``score >= threshold``; FAR rises."""
    genuine, impostor = np.sort(genuine), np.sort(impostor)
    thresholds = np.unique(np.concatenate([genuine, impostor]))[::-1]
    far = 1.0 - np.searchsorted(impostor, thresholds, side="left") / max(len(impostor), 1)
    tar = 1.0 - np.searchsorted(genuine, thresholds, side="left") / max(len(genuine), 1)
    start = np.array([0.0]), np.array([0.0]), np.array([np.inf])
    return (np.concatenate([start[0], far]), np.concatenate([start[1], tar]),
            np.concatenate([start[2], thresholds]))


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Area under the ROC: the chance a genuine score beats an impostor score (ties count half)."""
    if len(genuine) == 0 or len(impostor) == 0:
        return float("nan")
    impostor = np.sort(impostor)
    below = np.searchsorted(impostor, genuine, side="left")
    ties = np.searchsorted(impostor, genuine, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(genuine) * len(impostor)))


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate and its threshold: where false accepts (FAR) equal false rejects (1 - TAR)."""
    far, tar, thresholds = roc(genuine, impostor)
    frr = 1.0 - tar
    i = int(np.argmax(far >= frr))  # first point where FAR has caught up with FRR
    if i == 0:
        return float(far[0]), float(thresholds[0])
    # interpolate linearly between points i-1 and i on the difference FAR - FRR
    d0, d1 = far[i - 1] - frr[i - 1], far[i] - frr[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    rate = far[i - 1] + w * (far[i] - far[i - 1])
    threshold = thresholds[i] if not np.isfinite(thresholds[i - 1]) else (
        thresholds[i - 1] + w * (thresholds[i] - thresholds[i - 1]))
    return float(rate), float(threshold)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> dict[str, Any]:
    """TAR at the lowest threshold whose measured FAR is at most ``far`` (``calibration.threshold_at_fmr``)."""
    threshold = threshold_at_fmr(impostor, far)
    return {
        "tar": float((genuine >= threshold).mean()) if len(genuine) else float("nan"),
        "threshold": round(threshold, 4),
        "far_measured": float((impostor >= threshold).mean()),
        "resolved": bool(far * len(impostor) >= 1.0),
    }


def d_prime(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Separation of the two score distributions in pooled standard deviations."""
    spread = np.sqrt((genuine.var() + impostor.var()) / 2)
    return float((genuine.mean() - impostor.mean()) / spread) if spread > 0 else float("inf")


def roc_at(genuine: np.ndarray, impostor: np.ndarray, grid: tuple[float, ...] = ROC_GRID) -> list[dict[str, float]]:
    """The ROC sampled at fixed FARs (for a JSON summary; the full curve goes to the report)."""
    return [{"far": g, "tar": round(tar_at_far(genuine, impostor, g)["tar"], 4)} for g in grid]


def verification(scores: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None) -> dict[str, Any]:
    """Every verification figure of a labelled pair list: cross-validated accuracy, AUC, EER, TAR@FAR."""
    genuine, impostor = scores[same], scores[~same]
    mean, std, thresholds = cross_validated_accuracy(scores, same, folds)
    rate, threshold = eer(genuine, impostor)
    return {
        "pairs": len(scores),
        "genuine": len(genuine),
        "impostor": len(impostor),
        "accuracy": round(mean, 4),
        "accuracy_std": round(std, 4),
        "folds": len(thresholds),
        "threshold_mean": round(float(np.mean(thresholds)), 4),
        "auc": round(auc(genuine, impostor), 5),
        "eer": round(rate, 4),
        "eer_threshold": round(threshold, 4),
        "tar_at_far": {f"{far:g}": tar_at_far(genuine, impostor, far) for far in FAR_TARGETS},
        "far_resolution": 1.0 / max(len(impostor), 1),
        "roc": roc_at(genuine, impostor),
        "d_prime": round(d_prime(genuine, impostor), 3),
    }


# --- open-set identification: a search is one probe against every enrolled person ---------------


def top_scores(scores: np.ndarray) -> np.ndarray:
    """Best score of each search; a search with no result (no face: a row of NaN) scores NO_RESULT."""
    if scores.shape[1] == 0:
        return np.full(len(scores), NO_RESULT)
    best = np.max(np.where(np.isnan(scores), NO_RESULT, scores), axis=1)
    return best


def rank1(scores: np.ndarray, truth: np.ndarray) -> float:
    """Share of mated searches (``truth >= 0``, the column of the probe's person) whose best person is right.
    A mated search without a result, or whose person is not in the gallery (truth -1 is a stranger, so
    use -2 for 'enrolled nowhere'), is a miss."""
    mated = truth != -1
    if not mated.any():
        return float("nan")
    rows = scores[mated]
    filled = np.where(np.isnan(rows), NO_RESULT, rows)
    best = np.argmax(filled, axis=1) if rows.shape[1] else np.full(len(rows), -3)
    hit = (best == truth[mated]) & ~np.isnan(rows).all(axis=1)
    return float(hit.mean())


def fnir_at_fpir(scores: np.ndarray, truth: np.ndarray, fpir: float) -> dict[str, Any]:
    """FNIR at the threshold where at most ``fpir`` of non-mated searches (strangers) return anyone.

    A mated search is a miss unless its own person is ranked first with a score at or above the
    threshold (rank-1 FNIR, as NIST FRVT 1:N reports it).
    """
    best = top_scores(scores)
    strangers = truth == -1
    if not strangers.any():
        return {"fnir": float("nan"), "threshold": float("nan"), "fpir_measured": float("nan"), "resolved": False}
    threshold = threshold_at_fmr(best[strangers], fpir)
    mated = ~strangers
    filled = np.where(np.isnan(scores), NO_RESULT, scores)
    first = np.argmax(filled, axis=1) if scores.shape[1] else np.full(len(scores), -3)
    hit = (first == truth) & (best >= threshold)
    return {
        "fnir": round(float(1.0 - hit[mated].mean()), 6) if mated.any() else float("nan"),
        "threshold": round(threshold, 4),
        "fpir_measured": float((best[strangers] >= threshold).mean()),
        "resolved": bool(fpir * strangers.sum() >= 1.0),
    }


def person_scores(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-person comparisons of searches with a result: genuine (probe vs own person) and impostor
    (probe vs every other enrolled person, strangers vs everyone)."""
    answered = ~np.isnan(scores).any(axis=1)
    rows, labels = scores[answered], truth[answered]
    own = np.zeros(rows.shape, dtype=bool)
    mated = labels >= 0
    own[np.flatnonzero(mated), labels[mated]] = True
    return rows[own], rows[~own]
