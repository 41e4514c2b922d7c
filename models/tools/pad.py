"""Liveness models for the build, and their measurement: ``labgate-models evaluate pad`` and
``labgate-models calibrate-pad``.

Terms as ISO/IEC 30107-3 defines them: an *attack presentation* (a photo or a screen held up) that is
classified as bona fide counts towards APCER, per attack type (the highest type's APCER is the
system's); a *bona fide presentation* (a live face) classified as an attack counts towards BPCER;
ACER = (max APCER + BPCER) / 2. A face scoring below the threshold is classified as an attack.

The threshold is chosen on live faces only (a share of them refused, ``--target-bpcer``): attacks
are never used to choose it, so every APCER printed is measured on data the choice did not see. The
grey zone's top is chosen on live faces too: the score below which at most ``--grey-share`` more
of the live faces fall. At the door a face in the grey zone is asked for a small head turn.
"""

from __future__ import annotations

import glob
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from models import catalog
from models.datasets import IMAGE_SUFFIXES, image_files, people
from models.detector import Detector, DetectorSettings
from models.engine import primary_index
from models.images import ImageError, read_image
from models.liveness import PAD_KIND, LivenessChecker, PadThresholds, pad_paths
from models.runtime import Manifest, read_manifest

Log = Callable[[str], None]

# The Silent-Face checkpoints: file name -> (crop scale, architecture). sha256 from the data's SHA256SUMS.
WEIGHTS = {
    "2.7_80x80_MiniFASNetV2.pth": (2.7, "MiniFASNetV2",
                                   "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0"),
    "4_0_0_80x80_MiniFASNetV1SE.pth": (4.0, "MiniFASNetV1SE",
                                       "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990"),
}
PAD_FILES = ("pad-minifasnetv2-2.7.onnx", "pad-minifasnetv1se-4.0.onnx")
PARITY_TOLERANCE = 1e-5
LIVE_CLASS = 1
TARGET_BPCER = 0.01
GREY_SHARE = 0.25  # a quarter of live faces above the threshold may be asked for a head turn
PHOTO_MIN_FACE = 20
# How the network is written to ONNX (part of the build's recipe: a change re-exports the files).
EXPORT_FORM = "PReLU as max(x, slope*x)"


# -- build ---------------------------------------------------------------------------------------------
def export_pad(weights_dir: Path, out: Path, log: Log = print) -> list[Path]:
    """Both MiniFASNets -> ONNX (softmax output, dynamic batch) with manifests, each checked against torch."""
    import torch

    from models.tools.export import export_onnx
    from models.tools.facenet_weights import sha256_file
    from models.tools.minifasnet import LiveProbability, minifasnet

    paths = []
    for (name, (scale, architecture, digest)), file_name in zip(WEIGHTS.items(), PAD_FILES, strict=True):
        source = weights_dir / name
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: the liveness weights come from LABGATE_DATA's pad/ folder")
        actual = sha256_file(source)
        if actual != digest:
            raise ValueError(f"{source} has sha256 {actual}, expected {digest}")
        net = LiveProbability(minifasnet(source)).eval()
        manifest = Manifest(
            model_id=f"{Path(file_name).stem}.{digest[:8]}",
            kind=PAD_KIND,
            architecture=architecture,
            weights_source=f"minivision-ai/Silent-Face-Anti-Spoofing b6d5f04, resources/anti_spoof_models/{name}",
            weights_sha256=digest,
            input_size=(80, 80),
            colour="BGR",
            mean=0.0,
            std=1.0,  # raw 0-255 values, no normalisation
            liveness={"crop_scale": scale, "live_class": LIVE_CLASS, "output": "softmax"},
            licence="Apache-2.0 (Silent-Face-Anti-Spoofing weights)",
            notes="network written from the checkpoint's shapes and the MiniFASNet paper; loaded with strict=True; "
                  f"{EXPORT_FORM} (the same function: every slope is at most 1)",
        )
        path = export_onnx(net, torch.zeros(2, 3, 80, 80), out / file_name, ["probabilities"],
                           {"input": {0: "batch"}, "probabilities": {0: "batch"}}, manifest)
        error = _parity(path, net)
        log(f"      {file_name}: ONNX vs torch max |difference| {error:.2e} (limit {PARITY_TOLERANCE:.0e})")
        if error > PARITY_TOLERANCE:
            raise RuntimeError(f"{path} differs from torch by {error:.2e} > {PARITY_TOLERANCE:.0e}")
        paths.append(path)
    return paths


def _parity(path: Path, net: Any) -> float:
    import torch

    from models.runtime import session

    x = np.random.default_rng(7).uniform(0, 255, (4, 3, 80, 80)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    sess = session(path, threads=1)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return float(np.abs(got - expected).max())


def weights_digest() -> str:
    return hashlib.sha256(json.dumps(sorted(WEIGHTS.items())).encode()).hexdigest()[:12]


# -- scoring photos ------------------------------------------------------------------------------------
@dataclass
class Scored:
    """Live scores of the primary face of each photo; photos without a face are listed apart."""

    paths: list[Path]
    scores: np.ndarray
    no_face: list[Path] = field(default_factory=list)


def expand(source: str | Path) -> list[Path]:
    """Image files of a folder (recursively, for a folder per person), or of a glob pattern."""
    path = Path(source)
    if path.is_dir():
        found = image_files(path) + [p for ps in people(path).values() for p in ps]
        return sorted(set(found))
    matches = sorted(Path(p) for p in glob.glob(str(source)) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
    if not matches:
        raise ValueError(f"{source} is neither a folder nor a pattern matching images")
    return matches


def score_photos(checker: LivenessChecker, detector: Detector, paths: Iterable[Path],
                 settings: DetectorSettings | None = None) -> Scored:
    """The largest face of each photo (a door sees the nearest person), scored."""
    kept, scores, missing = [], [], []
    for path in paths:
        try:
            rgb = read_image(path)
        except ImageError:
            missing.append(path)
            continue
        faces = detector.detect(rgb, settings)
        if not faces:
            missing.append(path)
            continue
        face = faces[primary_index(faces, rgb.shape, "largest")]
        kept.append(path)
        scores.append(checker.score(rgb, face))
    return Scored(kept, np.asarray(scores, dtype=np.float64), missing)


# -- rates ---------------------------------------------------------------------------------------------
def bpcer(live: np.ndarray, threshold: float) -> float:
    """Share of bona fide presentations classified as attacks (score below the threshold)."""
    return float(np.mean(live < threshold)) if len(live) else float("nan")


def apcer(attack: np.ndarray, threshold: float) -> float:
    """Share of attack presentations classified as bona fide (score at or above the threshold)."""
    return float(np.mean(attack >= threshold)) if len(attack) else float("nan")


def threshold_for_bpcer(live: np.ndarray, target: float) -> float:
    """The highest threshold that refuses at most ``target`` of ``live`` (so the fewest attacks pass)."""
    ordered = np.sort(live)
    allowed = int(np.floor(target * len(ordered) + 1e-9))  # live scores that may fall below it
    if allowed >= len(ordered):
        return 1.0
    return float(ordered[allowed])


def det_curve(live: np.ndarray, attack: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, APCER, BPCER) over every score seen."""
    grid = np.unique(np.concatenate([live, attack, [0.0, 1.0 + 1e-9]]))
    return grid, np.array([apcer(attack, t) for t in grid]), np.array([bpcer(live, t) for t in grid])


@dataclass(frozen=True)
class Rates:
    threshold: float
    apcer: dict[str, float]  # per attack type
    bpcer: dict[str, float]  # per live set

    @property
    def acer(self) -> float:
        return (max(self.apcer.values()) + max(self.bpcer.values())) / 2

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": round(self.threshold, 4), "apcer": self.apcer, "bpcer": self.bpcer,
                "acer": self.acer, "apcer_max": max(self.apcer.values()), "bpcer_max": max(self.bpcer.values())}


def rates(live: dict[str, np.ndarray], attacks: dict[str, np.ndarray], threshold: float) -> Rates:
    return Rates(threshold, {k: apcer(v, threshold) for k, v in attacks.items()},
                 {k: bpcer(v, threshold) for k, v in live.items()})


# -- calibration ---------------------------------------------------------------------------------------
def choose(live: np.ndarray, target_bpcer: float = TARGET_BPCER, grey_share: float = GREY_SHARE) -> PadThresholds:
    """The threshold refusing at most ``target_bpcer`` of these live faces, and the grey zone's top below
    which at most ``grey_share`` more of them fall (they are asked for a head turn, not refused)."""
    if not 0 <= target_bpcer < 1 or not 0 <= grey_share < 1:
        raise ValueError(f"--target-bpcer and --grey-share must be in [0, 1), got {target_bpcer}, {grey_share}")
    if len(live) == 0:
        raise ValueError("no live face to calibrate on: every photo lacked a detectable face")
    attack = threshold_for_bpcer(live, target_bpcer)
    top = max(attack, threshold_for_bpcer(live, min(target_bpcer + grey_share, 0.999)))
    return PadThresholds(round(attack, 4), round(top, 4), f"{len(live)} live faces")


def write_thresholds(directory: Path, thresholds: PadThresholds, target_bpcer: float, grey_share: float) -> list[Path]:
    """Write the thresholds into every liveness model's manifest in ``directory`` (and models.json's sha256)."""
    from models.tools.model_folder import update_index

    paths = pad_paths(directory)
    write_thresholds_files(paths, thresholds, target_bpcer, grey_share)
    for path in paths:
        update_index(directory, path)
    return paths


def write_thresholds_files(paths: list[Path], thresholds: PadThresholds, target_bpcer: float,
                           grey_share: float) -> None:
    from models.tools.export import write_manifest

    for path in paths:
        manifest = read_manifest(path)
        liveness = {**manifest.liveness, "threshold": thresholds.attack, "grey_top": thresholds.live,
                    "target_bpcer": target_bpcer, "grey_share": grey_share,
                    "calibrated_on": thresholds.calibrated_on}
        write_manifest(path, replace(manifest, liveness=liveness))


def halves(paths: list[Path], by: str) -> tuple[list[Path], list[Path]]:
    """Split photos in two without sharing a source: ``person`` (a folder per person: alternate people),
    ``sequence`` (frames of one video: first half, second half, so neighbours stay together)."""
    if by == "person":
        names = sorted({p.parent.name for p in paths})
        first = set(names[::2])
        return [p for p in paths if p.parent.name in first], [p for p in paths if p.parent.name not in first]
    middle = len(paths) // 2
    return paths[:middle], paths[middle:]


# -- report --------------------------------------------------------------------------------------------
def write_report(folder: Path, live: dict[str, np.ndarray], attacks: dict[str, np.ndarray],
                 thresholds: PadThresholds, at_bpcer1: float, summary: dict[str, Any]) -> Path:
    from models.tools.report import COLOURS, Report, new_figure, percent

    report = Report(folder, "Liveness (presentation-attack detection)")
    report.text(f"Models: {summary['models']}. Thresholds: attack below {thresholds.attack}, grey zone up to "
                f"{thresholds.live} ({thresholds.calibrated_on}).",
                "Terms as ISO/IEC 30107-3: APCER = attacks classified as live (score at or above the threshold), "
                "per attack type; BPCER = live faces classified as attacks; ACER = (max APCER + max BPCER) / 2.",
                summary["caveat"])
    header = ["threshold", *[f"APCER {k}" for k in attacks], *[f"BPCER {k}" for k in live], "ACER"]
    rows = []
    for name, value in (("calibrated", thresholds.attack), ("grey-zone top", thresholds.live),
                        ("BPCER 1 %", at_bpcer1)):
        r = rates(live, attacks, value)
        rows.append([f"{name} {value:.4f}", *[percent(v) for v in r.apcer.values()],
                     *[percent(v) for v in r.bpcer.values()], percent(r.acer)])
    report.table(header, rows)
    figure, (ax,) = new_figure()
    bins = np.linspace(0, 1, 51)
    for i, (name, values) in enumerate({**{f"live {k}": v for k, v in live.items()},
                                        **{f"attack {k}": v for k, v in attacks.items()}}.items()):
        ax.hist(values, bins=bins, alpha=0.5, density=True, color=COLOURS[i % len(COLOURS)],
                label=f"{name} ({len(values)})")
    for value, label in ((thresholds.attack, "threshold"), (thresholds.live, "grey-zone top")):
        ax.axvline(value, color="black", linestyle="--", linewidth=1)
        ax.text(value, ax.get_ylim()[1] * 0.9, f" {label} {value:.3f}", fontsize=7)
    ax.set_xlabel("live score (mean live probability of the models)")
    ax.set_ylabel("density")
    ax.set_title("Liveness scores")
    ax.legend(fontsize=7)
    report.figure("scores.png", figure, "score histograms")
    figure, (ax,) = new_figure()
    all_live = np.concatenate(list(live.values()))
    for i, (name, values) in enumerate(attacks.items()):
        _, a, b = det_curve(all_live, values)
        ax.plot(np.maximum(a, 1e-3), np.maximum(b, 1e-3), color=COLOURS[i % len(COLOURS)], label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("APCER (0 drawn at 1e-3)")
    ax.set_ylabel("BPCER (all live sets; 0 drawn at 1e-3)")
    ax.set_title("DET curve per attack type")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    report.figure("det.png", figure, "DET curve")
    return report.write(summary)


def now() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def model_folder(explicit: Path | None) -> Path:
    return catalog.model_dir(explicit)
