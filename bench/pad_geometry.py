"""Does the liveness crop's geometry explain its errors? MTCNN's boxes against the box geometry the
MiniFASNets were trained on, measured rather than assumed.

    .venv/bin/python bench/pad_geometry.py

The Silent-Face models were trained on crops around another detector's boxes. For the three sample
photos that detector's boxes (x, y, w, h) are known (recorded from the upstream pipeline run on them);
MTCNN's boxes of the same faces are about as high but narrower and sit higher. Part 1 scores each
sample with both boxes, per model. Part 2 fits a box transform (width, height, vertical shift, as
ratios of MTCNN's box) on those three photos only, then does what the build does with and without it:
the threshold and grey zone chosen on the first halves of msu_mfsd_001/live and lfw_people/known,
rates on the second halves and on every attack frame (attacks never choose anything). One person's
frames: a smoke test, not a rate. Prints a table; never imported by tests; never gates CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import catalog  # noqa: E402
from models.detector import Detector, DetectorSettings, Face  # noqa: E402
from models.engine import primary_index  # noqa: E402
from models.images import read_image  # noqa: E402
from models.liveness import LivenessChecker  # noqa: E402
from models.tools import pad  # noqa: E402
from models.tools.pad_commands import CAVEAT, live_sets  # noqa: E402

# The upstream detector's boxes (x, y, w, h) on the 480x640 samples, as its pipeline printed them.
UPSTREAM_BOXES = {"image_F1.jpg": (178, 136, 223, 225), "image_F2.jpg": (120, 252, 252, 256),
                  "image_T1.jpg": (106, 147, 207, 213)}
Transform = tuple[float, float, float]  # width ratio, height ratio, centre shift down (share of height)
IDENTITY: Transform = (1.0, 1.0, 0.0)


def moved(face: Face, transform: Transform) -> Face:
    width_ratio, height_ratio, shift = transform
    x1, y1, x2, y2 = (float(v) for v in face.box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + shift * (y2 - y1)
    w, h = (x2 - x1) * width_ratio, (y2 - y1) * height_ratio
    return Face(np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32), face.score, face.landmarks)


def largest(detector: Detector, path: Path) -> tuple[np.ndarray, Face] | None:
    rgb = read_image(path)
    faces = detector.detect(rgb)
    return (rgb, faces[primary_index(faces, rgb.shape, "largest")]) if faces else None


def fit(pairs: list[tuple[Face, Face]]) -> Transform:
    """Mean ratios of the upstream box to MTCNN's: width, height, and centre shift in MTCNN heights."""
    ratios = [((u.box[2] - u.box[0]) / m.width, (u.box[3] - u.box[1]) / m.height,
               ((u.box[1] + u.box[3]) - (m.box[1] + m.box[3])) / 2 / m.height) for m, u in pairs]
    mean = np.mean(np.array(ratios, dtype=np.float64), axis=0)
    return float(mean[0]), float(mean[1]), float(mean[2])


def samples(checker: LivenessChecker, detector: Detector, folder: Path) -> Transform:
    print("1. the sample photos: live probability per model (V2 2.7, V1SE 4.0) and their mean")
    pairs = []
    for name, (x, y, w, h) in UPSTREAM_BOXES.items():
        found = largest(detector, folder / name)
        if found is None:
            sys.exit(f"no face found in {name}")
        rgb, face = found
        upstream = Face(np.array([x, y, x + w, y + h], np.float32), 1.0, face.landmarks)
        pairs.append((face, upstream))
        for label, box in (("MTCNN box", face), ("upstream box", upstream)):
            per = [float(m.live_probability(m.crop(rgb, box)[None])[0]) for m in checker.models]
            print(f"   {name}  {label:<13} {box.width:5.0f}x{box.height:<4.0f} "
                  + "  ".join(f"{p:.4f}" for p in per) + f"  mean {np.mean(per):.4f}")
    return fit(pairs)


def scored(checker: LivenessChecker, found: list[tuple[np.ndarray, Face]], transform: Transform) -> np.ndarray:
    return np.array([checker.score(rgb, moved(face, transform)) for rgb, face in found], dtype=np.float64)


def halves_table(checker: LivenessChecker, detector: Detector, data: Path, transforms: dict[str, Transform]) -> None:
    msu = data / "pad" / "msu_mfsd_001"
    sources = [str(msu / "live"), str(data / "lfw_people" / "known")]

    def detect(paths: list[Path]) -> list[tuple[np.ndarray, Face]]:
        return [f for f in (largest(detector, p) for p in paths) if f is not None]

    first = {k: detect(v) for k, v in live_sets(sources, "first").items()}
    second = {k: detect(v) for k, v in live_sets(sources, "second").items()}
    attacks = {f"video {i}": detect(pad.expand(msu / "attack" / f"attack_{i}*")) for i in (1, 2, 3)}
    print("2. chosen on the first halves of msu live and lfw_people/known (as the build does), rates on the "
          "second halves and on all attack frames")
    print(f"   {'box':<48} {'threshold':>9} {'grey top':>8}  APCER video 1 / 2 / 3    BPCER msu / lfw")
    for label, transform in transforms.items():
        chosen = pad.choose(np.concatenate([scored(checker, v, transform) for v in first.values()]))
        live = {k: scored(checker, v, transform) for k, v in second.items()}
        attack = {k: scored(checker, v, transform) for k, v in attacks.items()}
        for name, value in (("threshold", chosen.attack), ("grey top", chosen.live)):
            r = pad.rates(live, attack, value)
            print(f"   {label + ' at ' + name:<48} {chosen.attack:>9.4f} {chosen.live:>8.4f}  "
                  + " / ".join(f"{v * 100:5.1f}" for v in r.apcer.values()) + " %   "
                  + " / ".join(f"{v * 100:5.2f}" for v in r.bpcer.values()) + " %")
    print(f"   {CAVEAT}")


def main() -> None:
    data = catalog.data_dir()
    if data is None or not (data / "pad" / "msu_mfsd_001").is_dir():
        sys.exit("bench/pad_geometry.py needs the shared data's pad/: set LABGATE_DATA")
    models = catalog.model_dir()
    checker = LivenessChecker.from_dir(models)
    detector = Detector(models, DetectorSettings(min_face=pad.PHOTO_MIN_FACE))
    fitted = samples(checker, detector, data / "pad")
    print("   box transform fitted on the three samples: width x{:.3f}, height x{:.3f}, centre down {:.3f} of the "
          "height".format(*fitted))
    halves_table(checker, detector, data, {"MTCNN box": IDENTITY, "fitted to the upstream boxes": fitted})


if __name__ == "__main__":
    main()
