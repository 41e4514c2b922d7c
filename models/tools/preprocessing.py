"""Which preprocessing should reach the kiosk: crop method (eye-roll, plain margin crop, 5-point
template fit), margin size, mirror-image averaging and centring, compared in one run.

Each choice is *chosen* on a development set and *reported* on a test set (the --pairs of
``evaluate pairs``), as the data's rules ask: the test set's figures never enter the choice. Faces
are detected once; each crop is made from the same detection, and each variant is centred on the
mean embedding of the same unrelated faces (``--centre-from``), made with that variant's own crops,
as the build would do had it been the default.

The rule (``choose``): among the variants whose per-face embedding cost is at most ``COST_BUDGET``
times the plain variant's (the current crop, one network pass), take the best development-set AUC;
variants within ``AUC_NOISE`` of it tie, and a tie goes to the cheapest (costs within ``COST_NOISE``
count as equal); among equally cheap tied variants the current default stays, else the higher AUC
wins (then the higher TAR at FAR 1e-3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import catalog, metrics
from models.align import crop_face, landmarks_in_margin_crop
from models.calibration import cross_validated_accuracy
from models.datasets import Pair, image_files, read_pairs
from models.engine import FaceEngine
from models.evaluation import FaceSet, crop_faces, find_faces, pair_scores
from models.images import read_image
from models.tools.build import centre_images
from models.tools.progress import bar

TEMPLATE_MARGIN = 32  # the 5-point template is the mean landmark layout inside margin-32 crops
COST_BUDGET = 1.25  # a default may cost at most this many times the plain variant's embedding time per face
# Dev AUCs closer than this tie. The dev set's AUC moves by about this much with the choice of the 200
# centring faces alone (LFW fold 1: 0.9989-0.9993 over random 100-face subsets of lfw_people/unknown).
AUC_NOISE = 0.0002
COST_NOISE = 0.10  # per-face costs within 10 % of each other count as equal (timing on a shared CPU)
COST_SAMPLE = 24  # faces timed per crop method and for the network
RULE = (f"best development-set AUC among variants costing at most {COST_BUDGET:g}x the plain variant's embedding "
        f"time per face; AUCs within {AUC_NOISE:g} tie and a tie goes to the cheapest (costs within "
        f"{COST_NOISE:.0%} equal), then to the current default, then to the higher AUC and TAR at FAR 1e-3; "
        "the test set is only reported")


@dataclass(frozen=True)
class Variant:
    name: str
    method: str  # eye-roll | margin | template5
    margin: int
    flip: bool = False
    centred: bool = True

    @property
    def crop_key(self) -> tuple[str, int]:
        return self.method, self.margin


def candidates() -> list[Variant]:
    """The choices compared: both box crops at four margins, and the alternatives to the default."""
    found = [Variant(f"{method} {margin}", method, margin)
             for method in ("eye-roll", "margin") for margin in (14, 24, 32, 44)]
    return [
        *found,
        Variant("eye-roll 32 + flip", "eye-roll", 32, flip=True),
        Variant("margin 32 + flip", "margin", 32, flip=True),
        Variant("eye-roll 32, uncentred", "eye-roll", 32, centred=False),
        Variant("template5 (5-point fit)", "template5", TEMPLATE_MARGIN),
    ]


def current(engine: FaceEngine) -> Variant:
    """The variant the engine's model runs with (its manifest and the config's flip)."""
    alignment = engine.embedder.manifest.alignment
    method, margin = str(alignment.get("method", "eye-roll")), int(alignment.get("margin", 32))
    flip = engine.embedder.flip
    centred = bool(alignment.get("embedding_mean"))
    for variant in candidates():
        if (variant.method, variant.margin, variant.flip, variant.centred) == (method, margin, flip, centred):
            return variant
    suffix = (" + flip" if flip else "") + ("" if centred else ", uncentred")
    return Variant(f"{method} {margin}{suffix}", method, margin, flip, centred)


@dataclass
class Comparison:
    variants: list[Variant]
    dev: dict[str, dict[str, Any]]  # variant name -> dev figures
    test: dict[str, dict[str, Any]]  # variant name -> test figures
    dev_scores: dict[str, tuple[np.ndarray, np.ndarray]]  # variant name -> (genuine, impostor) on dev
    winner: str
    default: str
    failures: dict[str, int] = field(default_factory=dict)
    cost: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant name -> per-face cost
    plain: str = ""  # what costs are relative to: the current crop, one network pass
    why: str = ""  # how the rule picked the winner


def choose(dev: dict[str, dict[str, Any]], cost_ratio: dict[str, float], default: str) -> tuple[str, str]:
    """The variant the rule (see the module's docstring) picks, and why, from each variant's dev
    figures (``auc``, ``tar_at_far_1e-3``) and cost relative to the plain variant. Test figures are
    not an input."""
    eligible = [name for name in dev if cost_ratio[name] <= COST_BUDGET]
    if not eligible:
        raise ValueError(f"no variant within the cost budget ({COST_BUDGET}x the plain variant): {cost_ratio}")
    best = max(dev[name]["auc"] for name in eligible)
    tied = [name for name in eligible if dev[name]["auc"] >= best - AUC_NOISE]
    cheapest = min(cost_ratio[name] for name in tied)
    cheap = [name for name in tied if cost_ratio[name] <= cheapest * (1 + COST_NOISE)]
    if default in cheap:
        winner = default
    else:
        winner = max(cheap, key=lambda name: (dev[name]["auc"], dev[name]["tar_at_far_1e-3"]))
    over = sorted(set(dev) - set(eligible))
    why = (f"{len(eligible)} of {len(dev)} variants within the cost budget"
           + (f" (over it: {', '.join(f'{n} {cost_ratio[n]:.2f}x' for n in over)})" if over else "")
           + f"; best dev AUC among them {best:.5f}; within {AUC_NOISE:g} of it: {', '.join(tied)}; "
           + f"cheapest of those: {', '.join(cheap)}; chosen: {winner}")
    return winner, why


def compare(engine: FaceEngine, dev: dict[str, list[Pair]], test: list[Pair], centre: list[Path],
            variants: list[Variant] | None = None, test_faces: FaceSet | None = None) -> Comparison:
    """Score every variant on the dev pair sets (pooled) and the test pairs, time each variant's
    embedding per face, and pick the winner by the rule (``choose``) from dev figures and cost only."""
    default = current(engine)
    chosen = list(variants or candidates())
    if default.name not in {v.name for v in chosen}:
        chosen.insert(0, default)
    if not centre and any(v.centred for v in chosen):
        raise ValueError("centred variants need unrelated faces to centre on (--centre-from)")
    dev_paths = {p for pairs in dev.values() for pair in pairs for p in (pair.a, pair.b)}
    test_paths = {p for pair in test for p in (pair.a, pair.b)}
    known = set(test_faces.paths) | set(test_faces.failures) if test_faces else set()
    wanted = sorted((dev_paths | test_paths | set(centre)) - known)
    found = find_faces(engine, wanted, bar("faces (dev, test, centre)"))
    if test_faces is not None:
        found = FaceSet(found.paths + test_faces.paths, found.faces + test_faces.faces,
                        {**found.failures, **test_faces.failures})
    template = _template(found, set(centre)) if any(v.method == "template5" for v in chosen) else None
    raw: dict[tuple[str, int, bool], dict[Path, np.ndarray]] = {}
    for key in sorted({v.crop_key for v in chosen}):
        alignment: dict[str, object] = {"method": key[0], "margin": key[1]}
        if key[0] == "template5":
            alignment["template"] = template
        crops = crop_faces(found, alignment, engine.embedder.size)
        for flip in sorted({False} | {v.flip for v in chosen if v.crop_key == key}):
            batch = crops.crops[:, :, ::-1] if flip else crops.crops
            outputs = _network(engine, batch, f"{key[0]} {key[1]}{' flipped' if flip else ''}")
            raw[(*key, flip)] = dict(zip(crops.paths, outputs, strict=True))
    failed = set(found.failures)
    comparison = Comparison(chosen, {}, {}, {}, "", default.name,
                            {"dev": len(dev_paths & failed), "test": len(test_paths & failed)})
    for variant in chosen:
        vectors = _variant_embeddings(variant, raw, centre)
        scores, same = _pooled(vectors, dev)
        genuine, impostor = scores[same], scores[~same]
        comparison.dev_scores[variant.name] = (genuine, impostor)
        comparison.dev[variant.name] = {
            "auc": round(metrics.auc(genuine, impostor), 5),
            "eer": round(metrics.eer(genuine, impostor)[0], 4),
            "tar_at_far_1e-3": round(metrics.tar_at_far(genuine, impostor, 1e-3)["tar"], 4),
            "accuracy": round(cross_validated_accuracy(scores, same)[0], 4),
        }
        test_scores, test_same, _ = pair_scores(vectors, test)
        folds = np.array([p.fold for p in test])
        t_mean, t_std, _ = cross_validated_accuracy(test_scores, test_same, folds)
        comparison.test[variant.name] = {
            "accuracy": round(t_mean, 4), "accuracy_std": round(t_std, 4),
            "auc": round(metrics.auc(test_scores[test_same], test_scores[~test_same]), 5),
        }
    comparison.plain = f"{default.method} {default.margin}, one pass"
    comparison.cost = costs(engine, found, chosen, template, default)
    ratios = {name: figures["ratio"] for name, figures in comparison.cost.items()}
    comparison.winner, comparison.why = choose(comparison.dev, ratios, default.name)
    return comparison


def costs(engine: FaceEngine, found: FaceSet, variants: list[Variant], template: list[list[float]] | None,
          default: Variant) -> dict[str, dict[str, Any]]:
    """Each variant's embedding time per face as the kiosk spends it (crop from the frame, one network
    pass per face, two with mirror averaging), median over ``COST_SAMPLE`` faces, and its ratio to the
    plain variant's (the current default's crop, one pass). Centring costs a subtraction: left out."""
    sample = list(zip(found.paths, found.faces, strict=True))[:COST_SAMPLE]
    if not sample:
        raise ValueError("no faces found to time the variants on")
    frames = [(read_image(path), face) for path, face in sample]
    crop_ms: dict[tuple[str, int], float] = {}
    crops: np.ndarray | None = None
    for key in sorted({v.crop_key for v in variants} | {default.crop_key}):
        alignment: dict[str, object] = {"method": key[0], "margin": key[1]}
        if key[0] == "template5":
            alignment["template"] = template
        times, made = [], []
        for rgb, face in frames:
            start = time.perf_counter()
            made.append(crop_face(rgb, face, alignment, engine.embedder.size))
            times.append(time.perf_counter() - start)
        crop_ms[key] = float(np.median(times) * 1000)
        if key == default.crop_key:
            crops = np.stack(made)
    assert crops is not None
    engine.embedder.network_output(crops[:1])  # warm-up
    times = []
    for crop in crops:
        start = time.perf_counter()
        engine.embedder.network_output(crop[None])
        times.append(time.perf_counter() - start)
    network_ms = float(np.median(times) * 1000)
    plain = crop_ms[default.crop_key] + network_ms
    found_costs = {}
    for variant in variants:
        ms = crop_ms[variant.crop_key] + (2 if variant.flip else 1) * network_ms
        ratio = round(ms / plain, 3)
        found_costs[variant.name] = {"ms_per_face": round(ms, 2), "ratio": ratio, "within_budget": ratio <= COST_BUDGET}
    return found_costs


def _network(engine: FaceEngine, crops: np.ndarray, label: str, chunk: int = 64) -> np.ndarray:
    parts = [engine.embedder.network_output(np.ascontiguousarray(crops[i:i + chunk]))
             for i in bar(f"embeddings {label}", unit="batch")(range(0, len(crops), chunk))]
    return np.concatenate(parts) if parts else np.zeros((0, engine.embedder.manifest.embedding_size), np.float32)


def _variant_embeddings(variant: Variant, raw: dict[tuple[str, int, bool], dict[Path, np.ndarray]],
                        centre: list[Path]) -> dict[Path, np.ndarray]:
    """As ``Embedder.embed_crops`` makes them: flip-averaged, normalised, centred, normalised."""
    base = raw[(*variant.crop_key, False)]
    if variant.flip:
        flipped = raw[(*variant.crop_key, True)]
        base = {p: _unit(v + flipped[p]) for p, v in base.items()}
    if not variant.centred:
        return base
    mean = np.mean([base[p] for p in centre if p in base], axis=0)
    return {p: _unit(v - mean) for p, v in base.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _pooled(vectors: dict[Path, np.ndarray], sets: dict[str, list[Pair]]) -> tuple[np.ndarray, np.ndarray]:
    scores, same = [], []
    for pairs in sets.values():
        s, y, _ = pair_scores(vectors, pairs)
        scores.append(s)
        same.append(y)
    return np.concatenate(scores), np.concatenate(same)


def _template(found: FaceSet, centre: set[Path]) -> list[list[float]]:
    """The mean landmark layout inside margin crops of the centring faces: the 5-point target."""
    points = [landmarks_in_margin_crop(face, read_image(path).shape, 160, TEMPLATE_MARGIN)
              for path, face in zip(found.paths, found.faces, strict=True) if path in centre]
    if not points:
        raise ValueError("the 5-point template needs faces to average (--centre-from)")
    return np.mean(points, axis=0).round(3).tolist()


def table(comparison: Comparison) -> tuple[list[str], list[list[object]]]:
    header = ["preprocessing", "cost per face", "dev AUC", "dev EER", "dev TAR@FAR 1e-3", "dev accuracy",
              "test accuracy", "test AUC", ""]
    rows: list[list[object]] = []
    for variant in comparison.variants:
        d, t, c = comparison.dev[variant.name], comparison.test[variant.name], comparison.cost[variant.name]
        marks = [m for m, hit in (("current default", variant.name == comparison.default),
                                  ("chosen by the rule", variant.name == comparison.winner),
                                  ("over the cost budget", not c["within_budget"])) if hit]
        rows.append([variant.name, f"{c['ms_per_face']:.1f} ms ({c['ratio']:.2f}x)", f"{d['auc']:.5f}",
                     f"{d['eer'] * 100:.2f} %", f"{d['tar_at_far_1e-3'] * 100:.2f} %", f"{d['accuracy'] * 100:.2f} %",
                     f"{t['accuracy'] * 100:.2f} % ± {t['accuracy_std'] * 100:.2f}", f"{t['auc']:.5f}",
                     ", ".join(marks)])
    return header, rows


def summary(comparison: Comparison, dev: dict[str, list[Pair]]) -> dict[str, Any]:
    return {
        "dev_sets": {name: len(pairs) for name, pairs in dev.items()},
        "chosen_by": RULE,
        "rule": {"cost_budget": COST_BUDGET, "auc_noise": AUC_NOISE, "cost_noise": COST_NOISE,
                 "cost_relative_to": comparison.plain, "applied": comparison.why},
        "variants": [{"name": v.name, "method": v.method, "margin": v.margin, "flip": v.flip, "centred": v.centred,
                      "cost": comparison.cost[v.name], "dev": comparison.dev[v.name], "test": comparison.test[v.name]}
                     for v in comparison.variants],
        "dev_winner": comparison.winner,
        "current_default": comparison.default,
        "default_confirmed": comparison.winner == comparison.default,
        "photos_without_face": comparison.failures,
    }


def run(engine: FaceEngine, test: list[Pair], test_faces: FaceSet | None, dev_sources: list[Path] | None,
        centre_dir: Path | None, names: list[str] | None = None
        ) -> tuple[dict[str, Any], tuple[list[str], list[list[object]]], str]:
    """``evaluate pairs --compare-preprocessing``: the summary, the table and the verdict. Without
    ``dev_sources`` the dev set is the one README names (LABGATE_DATA's lfw_people/known, every pair,
    and deepface_pairs/master.csv); without ``centre_dir``, the faces the build centres on
    (``build.CENTRE_SETS``), so each variant is centred as the build would centre it."""
    data = catalog.data_dir()
    dev_sources = dev_sources or ([data / "lfw_people" / "known", data / "deepface_pairs" / "master.csv"]
                                  if data else None)
    if centre_dir is not None:
        centre, centre_from = image_files(centre_dir), str(centre_dir)
    elif data is not None:
        sets = centre_images(data)
        centre, centre_from = [p for paths in sets.values() for p in paths], ", ".join(sets)
    else:
        centre, centre_from = [], ""
    if not dev_sources or not centre:
        raise ValueError("--compare-preprocessing needs --dev and --centre-from (or LABGATE_DATA for the defaults)")
    variants = candidates()
    if names:
        unknown = [n for n in names if n not in {v.name for v in variants}]
        if unknown:
            raise ValueError(f"unknown variants {unknown}; choose from {[v.name for v in variants]}")
        variants = [v for v in variants if v.name in names]
    dev = {str(source): read_pairs(source) for source in dev_sources}
    comparison = compare(engine, dev, test, centre, variants, test_faces)
    found = summary(comparison, dev)
    found["centre_from"] = centre_from
    d, t = comparison.dev, comparison.test
    verdict = f"Rule: {RULE}. Applied: {comparison.why}. "
    if comparison.winner == comparison.default:
        verdict += f"The rule keeps the current default ({comparison.default})."
    else:
        verdict += (f"The rule picks {comparison.winner} over the current default ({comparison.default}): "
                    f"dev AUC {d[comparison.winner]['auc']:.5f} against {d[comparison.default]['auc']:.5f}, "
                    f"cost {comparison.cost[comparison.winner]['ratio']:.2f}x against "
                    f"{comparison.cost[comparison.default]['ratio']:.2f}x; on this (test) set, reported only, "
                    f"their accuracies are {t[comparison.winner]['accuracy'] * 100:.2f} % and "
                    f"{t[comparison.default]['accuracy'] * 100:.2f} %.")
    found["verdict"] = verdict
    return found, table(comparison), verdict
