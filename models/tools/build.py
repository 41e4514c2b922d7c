"""``labgate-models build``: real weights -> verified ONNX models with manifests, idempotently.

Steps: MTCNN (3 files) -> FaceNet weights -> fp32 embedder (checked against torch) -> embedding
centre and thresholds from real faces -> INT8 embedder, kept only if it is faster than fp32 and
loses at most 0.3 points of LFW fold-1 accuracy -> models.json (files, sha256, default embedder).

Data (``$LABGATE_DATA``) is used for: the embedding centre and INT8 calibration
(``lfw_people/unknown``, images only), thresholds (``lfw_fold1``, every labelled pair of its images),
and the INT8 check (``lfw_fold1`` pairs). Without data the build still makes working fp32 models,
uncentred and with conservative default thresholds, and says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import catalog
from models.calibration import calibrate, cross_validated_accuracy
from models.datasets import image_files, lfw_pairs
from models.detector import ONET_FILE, PNET_FILE, RNET_FILE
from models.embedder import Embedder
from models.engine import EngineSettings, FaceEngine
from models.evaluation import CropSet, all_pair_scores, crop_images, identity_of, pair_scores
from models.runtime import Manifest, Thresholds, session
from models.tools import facenet_weights as fw
from models.tools.export import export_embedder, export_mtcnn, torch_embedder, write_manifest
from models.tools.progress import bar
from models.tools.quantize import quantize_embedder

PREPROCESSING_VERSION = 1
ALIGNMENT = {"method": "eye-roll", "margin": 32, "flip": False}
TARGET_FMR = 1e-4  # per comparison: ~1 % false accepts over a gallery of 100 people
UNKNOWN_FMR = 1e-2
DECISION_MARGIN = 0.05
INT8_MAX_ACCURACY_LOSS = 0.003
PARITY_TOLERANCE = 1e-5

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    cache: Path
    weights: str = "casia"  # casia | vggface2 | path to a facenet-pytorch state dict
    data: Path | None = None
    int8: bool = True
    force: bool = False


@dataclass(frozen=True)
class Source:
    name: str  # file-name stem: casia, vggface2, custom
    weights_sha256: str
    load: Callable[[], fw.Weights]


def resolve_source(weights: str, cache: Path) -> Source:
    if weights == "casia":
        return Source("casia", fw.CASIA_GRAPH_SHA256, lambda: fw.casia_weights(cache))
    if weights == "vggface2":
        return Source("vggface2", fw.VGGFACE2_SHA256, lambda: fw.vggface2_weights(cache))
    path = Path(weights)
    if not path.is_file():
        raise fw.WeightsError(f"--weights {weights!r} is neither casia, vggface2 nor an existing file")
    return Source("custom", fw.sha256_file(path), lambda: fw.file_weights(path))


def build(options: BuildOptions, log: Log = print) -> dict[str, Any]:
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    source = resolve_source(options.weights, options.cache)
    index = catalog.read_index(out)
    calibrated = options.data is not None
    if not options.force and _up_to_date(index, out, source, calibrated, options.int8, recipe()):
        log(f"models in {out} are built and verified (weights sha256 {source.weights_sha256[:12]}…); nothing to do")
        return index

    files: dict[str, str] = {}
    log("[1/5] MTCNN detector (P-, R-, O-Net) from the facenet-pytorch wheel")
    mtcnn = [out / PNET_FILE, out / RNET_FILE, out / ONET_FILE]
    if options.force or not all(_verified(index, p) for p in mtcnn):
        export_mtcnn(out)
    files.update({p.name: catalog.sha256_of(p) for p in mtcnn})

    log(f"[2/5] FaceNet weights: {options.weights}")
    weights = source.load()
    log(f"      {weights.source} (sha256 {weights.sha256[:12]}…, trained on {weights.training_data})")

    log("[3/5] fp32 embedder: export to ONNX and check against torch")
    fp32 = out / f"facenet-{source.name}.fp32.onnx"
    base = embedder_manifest(weights)
    export_checked(weights.state_dict, fp32, base, log)

    sets = calibration_sets(out, fp32, options.data, log)
    finish_manifest(fp32, base, "fp32", sets, log)
    files[fp32.name] = catalog.sha256_of(fp32)
    default = fp32.name

    log("[4/5] INT8 embedder")
    int8 = out / f"facenet-{source.name}.int8.onnx"
    if not options.int8:
        log("      skipped (--no-int8)")
    elif sets is None:
        log("      skipped: INT8 needs real faces to calibrate and check; set LABGATE_DATA")
    elif make_int8(fp32, int8, base, sets, log):
        files[int8.name] = catalog.sha256_of(int8)
        default = int8.name

    log("[5/5] index")
    index = {
        "recipe": recipe(),
        "weights": {"name": options.weights, "sha256": source.weights_sha256},
        "calibrated": calibrated,
        "int8_requested": options.int8,
        "files": files,
        "default_embedder": default,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    catalog.write_index(out, index)
    log(f"done: default embedder {default} in {out}")
    return index


def embedder_manifest(weights: fw.Weights) -> Manifest:
    """The manifest of a FaceNet embedder made from ``weights``, before centring, thresholds and id."""
    return Manifest(
        model_id="pending",
        kind="embedder",
        architecture="InceptionResnetV1",
        weights_source=weights.source,
        weights_sha256=weights.sha256,
        input_size=(160, 160),
        colour="RGB",
        mean=127.5,
        std=128.0,
        embedding_size=512,
        preprocessing_version=PREPROCESSING_VERSION,
        alignment=dict(ALIGNMENT),
        licence=weights.licence,
        notes=f"published LFW accuracy {weights.published_lfw}" if weights.published_lfw else "",
    )


def export_checked(state_dict: dict[str, torch.Tensor], path: Path, base: Manifest, log: Log) -> None:
    """Export the embedder to ONNX and refuse a file whose embeddings differ from torch's."""
    export_embedder(state_dict, path, base)
    error = _parity(path, state_dict)
    log(f"      ONNX vs torch: max |difference| of embeddings {error:.2e} (limit {PARITY_TOLERANCE:.0e})")
    if error > PARITY_TOLERANCE:
        raise RuntimeError(f"exported embedder differs from torch by {error:.2e} > {PARITY_TOLERANCE:.0e}")


def make_int8(fp32: Path, int8: Path, base: Manifest, sets: CalibrationSets, log: Log) -> bool:
    """Quantise ``fp32`` to ``int8``, finish its manifest, and keep it only if it passes its checks."""
    calibration = ((sets.centre.crops.astype(np.float32) - base.mean) / base.std).transpose(0, 3, 1, 2)
    quantize_embedder(fp32, int8, np.ascontiguousarray(calibration))
    write_manifest(int8, replace(base, precision="int8"))
    int8_manifest = finish_manifest(int8, replace(base, precision="int8"), "int8", sets, log)
    keep, why = _int8_verdict(fp32, int8, sets, log)
    if keep:
        log(f"      kept: {why}; model id {int8_manifest.model_id}")
    else:
        int8.unlink(missing_ok=True)
        log(f"      not kept: {why}")
    return keep


@dataclass
class CalibrationSets:
    centre: CropSet  # lfw_people/unknown: centring mean and INT8 calibration (images only)
    fold1: CropSet  # lfw_fold1 images: thresholds and the INT8 accuracy check
    pairs_file: Path
    images: Path


def calibration_sets(out: Path, fp32: Path, data: Path | None, log: Log) -> CalibrationSets | None:
    """The build's real faces (crops made with ``fp32``'s alignment and the models in ``out``)."""
    if data is None:
        log("      no LABGATE_DATA: embeddings uncentred, thresholds are uncalibrated defaults")
        return None
    engine = FaceEngine(EngineSettings(model_dir=out, embedder=fp32.name, face_selection="centre"))
    centre = crop_images(engine, image_files(data / "lfw_people" / "unknown"), bar("      crops lfw_people/unknown"))
    images = data / "lfw_fold1" / "images_flat"
    fold1 = crop_images(engine, image_files(images), bar("      crops lfw_fold1"))
    for name, crops in (("lfw_people/unknown", centre), ("lfw_fold1", fold1)):
        if crops.failures:
            names = sorted(p.name for p in crops.failures)
            log(f"      {name}: no usable face in {len(names)} images (left out): {names[:5]}")
    return CalibrationSets(centre, fold1, data / "lfw_fold1" / "pairs_fold1.txt", images)


def finish_manifest(path: Path, base: Manifest, precision: str, sets: CalibrationSets | None, log: Log) -> Manifest:
    """Centre, thresholds and model id; written into the file."""
    alignment = dict(base.alignment)
    thresholds: Thresholds | None = None
    if sets is not None:
        network = Embedder(path, threads=2).network_output(sets.centre.crops)
        alignment["embedding_mean"] = [round(float(x), 6) for x in network.mean(axis=0)]
        alignment["embedding_mean_from"] = f"lfw_people/unknown, {len(sets.centre.paths)} faces"
        write_manifest(path, replace(base, precision=precision, alignment=alignment))
        centred = Embedder(path, threads=2).embed_crops(sets.fold1.crops)
        genuine, impostor = all_pair_scores(centred, [identity_of(p) for p in sets.fold1.paths])
        thresholds = calibrate(genuine, impostor, TARGET_FMR, UNKNOWN_FMR, DECISION_MARGIN, "lfw_fold1 (all pairs)")
        thresholds = replace(thresholds, accept=math.ceil(thresholds.accept * 1e4) / 1e4)
        log(f"      {precision}: τ_accept {thresholds.accept} (FMR {TARGET_FMR:g}), τ_unknown {thresholds.unknown}, "
            f"margin {thresholds.margin}; {thresholds.calibrated_on}")
    digest = hashlib.sha256(
        json.dumps([base.weights_sha256, precision, base.preprocessing_version, alignment], sort_keys=True).encode()
    ).hexdigest()[:8]
    stem = path.name.split(".")[0]  # facenet-casia
    manifest = replace(base, model_id=f"{stem}.{precision}.{digest}", precision=precision,
                       alignment=alignment, thresholds=thresholds)
    write_manifest(path, manifest)
    return manifest


def _int8_verdict(fp32: Path, int8: Path, sets: CalibrationSets, log: Log) -> tuple[bool, str]:
    pairs = lfw_pairs(sets.pairs_file, sets.images)
    accuracy = {}
    for path in (fp32, int8):
        vectors = Embedder(path, threads=2).embed_crops(sets.fold1.crops)
        scores, same, _ = pair_scores(dict(zip(sets.fold1.paths, vectors, strict=False)), pairs)
        accuracy[path] = cross_validated_accuracy(scores, same)[0]
    speed = {path: _median_ms(path) for path in (fp32, int8)}
    loss = accuracy[fp32] - accuracy[int8]
    log(f"      LFW fold 1: fp32 {accuracy[fp32] * 100:.2f} %, int8 {accuracy[int8] * 100:.2f} %; "
        f"one face: fp32 {speed[fp32]:.1f} ms, int8 {speed[int8]:.1f} ms")
    if speed[int8] >= speed[fp32]:
        return False, f"INT8 is not faster on this CPU ({speed[int8]:.1f} ms vs {speed[fp32]:.1f} ms)"
    if loss > INT8_MAX_ACCURACY_LOSS:
        limit = INT8_MAX_ACCURACY_LOSS * 100
        return False, f"INT8 loses {loss * 100:.2f} points of LFW fold-1 accuracy (limit {limit:.1f})"
    return True, f"{speed[fp32] / speed[int8]:.1f}x faster, accuracy change {-loss * 100:+.2f} points"


def _median_ms(path: Path, runs: int = 30) -> float:
    sess = session(path, threads=2)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 160, 160)).astype(np.float32)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def _parity(path: Path, state_dict: dict[str, torch.Tensor]) -> float:
    net = torch_embedder(state_dict)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 3, 160, 160)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    sess = session(path, threads=2)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return float(np.abs(got - expected).max())


def _verified(index: dict[str, Any], path: Path) -> bool:
    expected = index.get("files", {}).get(path.name)
    return bool(expected) and path.is_file() and catalog.sha256_of(path) == expected


def recipe() -> str:
    """A fingerprint of how models are made here: a change to any of it rebuilds on the next build."""
    parts = [PREPROCESSING_VERSION, ALIGNMENT, TARGET_FMR, UNKNOWN_FMR, DECISION_MARGIN, INT8_MAX_ACCURACY_LOSS]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _up_to_date(index: dict[str, Any], out: Path, source: Source, calibrated: bool, int8: bool, made_by: str) -> bool:
    if not index or index.get("weights", {}).get("sha256") != source.weights_sha256:
        return False
    if index.get("recipe") != made_by:
        return False
    if index.get("calibrated") != calibrated or index.get("int8_requested") != int8:
        return False
    return all(_verified(index, out / name) for name in index.get("files", {})) and bool(index.get("default_embedder"))
