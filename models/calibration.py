"""Verification accuracy and threshold choice from genuine and impostor score distributions."""

from __future__ import annotations

import numpy as np

from models.runtime import Thresholds


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold that maximises accuracy of ``score >= t`` on these pairs (midpoint between scores)."""
    order = np.argsort(scores)
    s, y = scores[order], same[order].astype(np.int64)
    # accepting everything from index i upward: correct = genuine at/above i + impostors below i
    genuine_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    impostor_below = np.concatenate([[0], np.cumsum(1 - y)])
    correct = genuine_above + impostor_below
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == len(s):
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


def cross_validated_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None,
                             n_folds: int = 10) -> tuple[float, float, list[float]]:
    """Accuracy (mean, std over folds, per-fold thresholds): each fold's threshold is chosen on the others.

    Without ``folds``, genuine and impostor pairs are each dealt round-robin into ``n_folds`` folds.
    """
    same = same.astype(bool)
    if folds is None or len(np.unique(folds)) < 2:
        folds = deal_folds(same, n_folds)
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(scores[~test], same[~test])
        accuracies.append(float(((scores[test] >= threshold) == same[test]).mean()))
        thresholds.append(threshold)
    return float(np.mean(accuracies)), float(np.std(accuracies)), thresholds


def deal_folds(same: np.ndarray, n_folds: int = 10) -> np.ndarray:
    """Fold of each pair: genuine and impostor pairs each dealt round-robin into ``n_folds`` folds."""
    folds = np.zeros(len(same), dtype=np.int64)
    for label in (True, False):
        idx = np.flatnonzero(same == label)
        folds[idx] = np.arange(len(idx)) % n_folds
    return folds


def threshold_at_fmr(impostor: np.ndarray, fmr: float) -> float:
    """The lowest threshold at which at most ``fmr`` of impostor scores are >= it."""
    if len(impostor) == 0:
        raise ValueError("no impostor scores to calibrate on")
    ranked = np.sort(impostor)[::-1]
    allowed = int(np.floor(fmr * len(ranked)))
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(np.nextafter(ranked[allowed], np.float32(2.0)))


def calibrate(genuine: np.ndarray, impostor: np.ndarray, target_fmr: float, unknown_fmr: float,
              margin: float, source: str) -> Thresholds:
    """τ_accept at ``target_fmr``, τ_unknown at the looser ``unknown_fmr``, and the given margin."""
    accept = threshold_at_fmr(impostor, target_fmr)
    unknown = min(threshold_at_fmr(impostor, unknown_fmr), accept)
    return Thresholds(
        accept=round(accept, 4),
        unknown=round(unknown, 4),
        margin=margin,
        target_fmr=target_fmr,
        calibrated_on=f"{source}: {len(genuine)} genuine, {len(impostor)} impostor pairs; "
                      f"genuine accepted at τ_accept: {float((genuine >= accept).mean()):.4f}",
    )
