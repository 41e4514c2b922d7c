"""Verification accuracy and threshold choice from genuine and impostor score distributions."""

from __future__ import annotations

from dataclasses import replace

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


# --- τ_accept for the gallery the kiosk holds ------------------------------------------------------
#
# A stranger is accepted as somebody when any of the G enrolled people scores at or above τ_accept, so
# a fixed τ lets more strangers in as the gallery grows. With the calibration set's impostor scores
# (their top, carried in the manifest) τ_accept is chosen for the gallery size at hand: the lowest τ
# whose per-comparison false-match rate keeps the share of strangers accepted per decision at the
# target, FPIR = 1 - (1 - FMR)^G. Every accepted walk-up needs k frames each accepted (with the
# margin), so the walk-up rate is at most the per-frame rate: τ is chosen per frame, the vote and the
# margin only take accepts away (labgate-models evaluate people --gallery-sizes measures both).

TAIL_FMR = 1e-2  # the manifest keeps the impostor scores down to this per-comparison false-match rate
DEFAULT_TARGET_FPIR = 1e-3  # share of strangers accepted as someone per walk-up, at the current gallery size


def impostor_tail(impostor: np.ndarray, down_to_fmr: float = TAIL_FMR) -> tuple[float, ...]:
    """The highest impostor scores, highest first, enough to choose τ at any FMR down to ``down_to_fmr``
    (rounded up to 5 decimals: a rounded score never counts as lower than it was)."""
    ranked = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    keep = min(len(ranked), int(np.ceil(down_to_fmr * len(ranked))) + 1)
    return tuple(float(np.ceil(s * 1e5) / 1e5) for s in ranked[:keep])


def fmr_for_fpir(target_fpir: float, gallery_size: int) -> float:
    """Per-comparison false-match rate that keeps ``target_fpir`` over a gallery of ``gallery_size``."""
    if not 0 < target_fpir < 1:
        raise ValueError(f"target share of strangers accepted must be between 0 and 1, got {target_fpir}")
    return 1.0 - (1.0 - target_fpir) ** (1.0 / max(1, gallery_size))


def for_gallery(thresholds: Thresholds, gallery_size: int, target_fpir: float = DEFAULT_TARGET_FPIR) -> Thresholds:
    """``thresholds`` with τ_accept chosen for a gallery of ``gallery_size`` people at ``target_fpir``
    strangers accepted per decision (τ_unknown no higher than it); unchanged without calibration data.

    Where the target allows fewer than ``RESOLVED_PAIRS`` of the calibration's impostor comparisons
    (large galleries), the empirical τ rests on a handful of scores, or on none: there τ is also read
    from an exponential tail fitted to the top ``TAIL_FIT_TOP`` impostor scores, and the stricter of
    the two is used. Similarity scores have tails lighter than exponential, so the fit errs strict."""
    tail, total = np.asarray(thresholds.impostor_tail, dtype=np.float64), thresholds.impostor_comparisons
    if not len(tail) or total <= 0:
        return thresholds
    size = max(1, gallery_size)
    fmr = fmr_for_fpir(target_fpir, size)
    allowed = int(np.floor(fmr * total))
    # looser than the tail reaches: the loosest τ the manifest can vouch for
    accept = float(np.nextafter(tail[allowed], 2.0)) if allowed < len(tail) else float(tail[-1])
    fitted = allowed < RESOLVED_PAIRS and len(tail) > TAIL_FIT_TOP
    if fitted:
        accept = max(accept, tail_fit_threshold(tail, total, fmr))
    accept = min(1.0, float(np.ceil(accept * 1e4) / 1e4))
    expected = 1.0 - (1.0 - estimated_fmr(tail, total, accept)) ** size
    how = (f"the stricter of the empirical τ and an exponential tail fitted to the top {TAIL_FIT_TOP} impostor "
           "scores" if fitted else "empirical")
    note = (f"; τ_accept for a gallery of {size} at {target_fpir:g} strangers accepted per walk-up "
            f"(FMR {fmr:.3g} per comparison over {total} impostor comparisons, {allowed} allowed; {how})")
    return replace(thresholds, accept=accept, unknown=min(thresholds.unknown, accept), target_fmr=float(f"{fmr:.4g}"),
                   calibrated_on=thresholds.calibrated_on.split("; τ_accept for a gallery")[0] + note,
                   gallery_size=size, expected_fpir=round(expected, 6))


RESOLVED_PAIRS = 10  # an empirical rate resting on fewer impostor comparisons than this is extrapolated
TAIL_FIT_TOP = 30  # impostor scores the exponential tail is fitted to


def tail_fit_threshold(tail: np.ndarray, total: int, fmr: float) -> float:
    """τ at ``fmr`` from an exponential fitted to the excesses of the top ``TAIL_FIT_TOP`` scores over the
    next one (maximum likelihood: the mean excess)."""
    u = float(tail[TAIL_FIT_TOP])
    beta = max(float((tail[:TAIL_FIT_TOP] - u).mean()), 1e-6)
    return u + beta * float(np.log((TAIL_FIT_TOP / total) / fmr))


def estimated_fmr(tail: np.ndarray, total: int, tau: float) -> float:
    """The per-comparison false-match rate at ``tau``: counted where at least ``RESOLVED_PAIRS`` impostor
    scores reach it, else from the fitted exponential tail."""
    count = int((tail >= tau).sum())
    if count >= RESOLVED_PAIRS or len(tail) <= TAIL_FIT_TOP:
        return count / total
    u = float(tail[TAIL_FIT_TOP])
    beta = max(float((tail[:TAIL_FIT_TOP] - u).mean()), 1e-6)
    return (TAIL_FIT_TOP / total) * float(np.exp(-(tau - u) / beta))


def describe(thresholds: Thresholds) -> str:
    """One line for logs and screens: the gallery size, τ_accept and the expected false accepts."""
    if thresholds.gallery_size is None or thresholds.expected_fpir is None:
        return f"τ_accept {thresholds.accept} (fixed)"
    return (f"gallery {thresholds.gallery_size}: τ_accept {thresholds.accept}, expected strangers accepted per "
            f"walk-up ≤ {thresholds.expected_fpir * 100:.2g} %")
