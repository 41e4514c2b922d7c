"""``labgate-models evaluate pad`` and ``labgate-models calibrate-pad``: the command-line side of
models/tools/pad.py (reading the sets, printing the figures, writing the report)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from models.detector import Detector, DetectorSettings
from models.liveness import LivenessChecker, PadThresholds
from models.tools import pad

CAVEAT = ("A set of frames of one person (such as msu_mfsd_001) is a smoke test, not a rate: its frames are "
          "strongly alike, and the rates printed from it say how this one person's videos fared.")


def set_name(source: str) -> str:
    path = Path(source)
    return "/".join(path.parts[-2:]) if path.is_dir() else "/".join(path.parts[-3:])


def live_sets(sources: list[str], half: str) -> dict[str, list[Path]]:
    """Each --live source's photos, or the chosen half of them (by person for a folder per person, else
    by frame order: a video's neighbouring frames stay in one half)."""
    found = {}
    for source in sources:
        paths = pad.expand(source)
        if half != "all":
            by = "person" if len({p.parent for p in paths}) > 1 else "sequence"
            first, second = pad.halves(paths, by)
            paths = first if half == "first" else second
        found[set_name(source) + ("" if half == "all" else f" ({half} half)")] = paths
    return found


def _score_sets(checker: LivenessChecker, detector: Detector, sets: dict[str, list[Path]],
                settings: DetectorSettings) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    scores, missing = {}, {}
    for name, paths in sets.items():
        scored = pad.score_photos(checker, detector, paths, settings)
        scores[name] = scored.scores
        missing[name] = [p.name for p in scored.no_face]
    return scores, missing


def evaluate(args: argparse.Namespace, models: Path, folder: Path) -> int:
    if args.attack_type and len(args.attack_type) != len(args.attack):
        raise ValueError(f"give one --attack-type per --attack ({len(args.attack)} attacks, "
                         f"{len(args.attack_type)} types), or none")
    checker = LivenessChecker.from_dir(models)
    detector = Detector(models, DetectorSettings(min_face=args.min_face))
    settings = detector.settings
    live_paths = live_sets(args.live, args.half)
    names = args.attack_type or [set_name(a) for a in args.attack]
    attack_paths = {name: pad.expand(source) for name, source in zip(names, args.attack, strict=True)}
    live, live_missing = _score_sets(checker, detector, live_paths, settings)
    attacks, attack_missing = _score_sets(checker, detector, attack_paths, settings)
    if any(len(v) == 0 for v in (*live.values(), *attacks.values())):
        raise ValueError("a set has no photo with a detectable face: "
                         + ", ".join(k for k, v in {**live, **attacks}.items() if len(v) == 0))
    thresholds = checker.thresholds
    all_live = np.concatenate(list(live.values()))
    at_bpcer1 = pad.threshold_for_bpcer(all_live, 0.01)
    at = {"calibrated": pad.rates(live, attacks, thresholds.attack),
          "grey_top": pad.rates(live, attacks, thresholds.live),
          "bpcer_1pct": pad.rates(live, attacks, at_bpcer1)}
    grey = {name: float(np.mean((v >= thresholds.attack) & (v < thresholds.live))) for name, v in live.items()}
    summary: dict[str, Any] = {
        "models": checker.model_id,
        "thresholds": {"attack": thresholds.attack, "grey_top": thresholds.live,
                       "calibrated_on": thresholds.calibrated_on},
        "live": {k: len(v) for k, v in live.items()},
        "attack": {k: len(v) for k, v in attacks.items()},
        "no_face": {**live_missing, **attack_missing},
        "at": {k: r.as_dict() for k, r in at.items()},
        "live_in_grey_zone": grey,
        "caveat": CAVEAT,
        "report": str(folder),
    }
    pad.write_report(folder, live, attacks, thresholds, at_bpcer1, summary)
    print(f"liveness models {checker.model_id}; thresholds: attack below {thresholds.attack}, grey zone up to "
          f"{thresholds.live} ({thresholds.calibrated_on})")
    print("  live: " + ", ".join(f"{k} {len(v)}" for k, v in live.items())
          + "; attack: " + ", ".join(f"{k} {len(v)}" for k, v in attacks.items()))
    labels = {"calibrated": f"at the calibrated threshold {thresholds.attack:.4f}",
              "grey_top": f"at the grey zone's top {thresholds.live:.4f} (attacks that pass without a head turn)",
              "bpcer_1pct": f"at the threshold for BPCER 1 % on these live faces, {at_bpcer1:.4f}"}
    for key, r in at.items():
        print(f"  {labels[key]}:")
        print("    APCER " + ", ".join(f"{k} {v * 100:.2f} %" for k, v in r.apcer.items())
              + "; BPCER " + ", ".join(f"{k} {v * 100:.2f} %" for k, v in r.bpcer.items())
              + f"; ACER {r.acer * 100:.2f} %")
    print("  live faces in the grey zone (asked for a head turn): "
          + ", ".join(f"{k} {v * 100:.1f} %" for k, v in grey.items()))
    lacking = {k: len(v) for k, v in summary["no_face"].items() if v}
    if lacking:
        print(f"  photos without a detectable face (left out): {lacking}")
    print(f"  note: {CAVEAT}")
    print(f"  report: {folder / 'summary.md'}")
    print(json.dumps(summary, sort_keys=True, default=str))
    return 0


def calibrate(args: argparse.Namespace, models: Path) -> int:
    checker = LivenessChecker.from_dir(models)
    detector = Detector(models, DetectorSettings(min_face=args.min_face))
    sets = live_sets(args.live, args.half)
    live, missing = _score_sets(checker, detector, sets, detector.settings)
    scores = np.concatenate(list(live.values()))
    chosen = pad.choose(scores, args.target_bpcer, args.grey_share)
    described = "; ".join(f"{k} {len(v)}" for k, v in live.items())
    targets = f"target BPCER {args.target_bpcer:g}, grey share {args.grey_share:g}"
    chosen = PadThresholds(chosen.attack, chosen.live, f"{described} live faces ({targets})")
    paths = pad.write_thresholds(models, chosen, args.target_bpcer, args.grey_share)
    print(f"liveness threshold {chosen.attack} (below: attack), grey zone up to {chosen.live}; chosen on {described}")
    print(f"  on these faces: BPCER {pad.bpcer(scores, chosen.attack) * 100:.2f} %, in the grey zone "
          f"{float(np.mean((scores >= chosen.attack) & (scores < chosen.live))) * 100:.1f} %")
    print(f"  written into {', '.join(p.name for p in paths)} in {models}")
    lacking = {k: len(v) for k, v in missing.items() if v}
    if lacking:
        print(f"  photos without a detectable face (left out): {lacking}")
    print(json.dumps({"threshold": chosen.attack, "grey_top": chosen.live, "calibrated_on": chosen.calibrated_on,
                      "models": [os.fspath(p) for p in paths]}, sort_keys=True))
    return 0
