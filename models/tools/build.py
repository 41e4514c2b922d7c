"""``labgate-models build``: real weights -> verified ONNX models with manifests, idempotently.

Steps: MTCNN (3 files) -> FaceNet weights -> fp32 embedder (checked against torch) -> embedding
centre and thresholds from real faces -> INT8 embedder, kept only if it is faster than fp32 and
loses at most 0.3 points of LFW fold-1 accuracy -> models.json (files, sha256, default embedder).

Data (``$LABGATE_DATA``) is used for: the embedding centre and INT8 calibration (``CENTRE_SETS``:
deepface_pairs' photos, att_faces, facenet-pytorch's 4 raw test photos; images only), thresholds
(every labelled pair of ``lfw_fold1``'s images whose person is not in ``lfw_people``), and the INT8
check (``lfw_fold1`` pairs). So the centre and the INT8 calibration use no image of ``lfw_fold1`` or
``lfw_people``, and the thresholds no image of a person in ``lfw_people`` (known or stranger), whose
open-set figures are reported: chosen on one set, reported on another.
Without data the build still makes working fp32 models, uncentred and with conservative default
thresholds, and says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import catalog
from models.calibration import TAIL_FMR, calibrate, cross_validated_accuracy, impostor_tail
from models.datasets import image_files, lfw_pairs, people
from models.detector import ONET_FILE, PNET_FILE, RNET_FILE, Detector, DetectorSettings
from models.embedder import Embedder
from models.engine import EngineSettings, FaceEngine
from models.evaluation import CropSet, all_pair_scores, crop_images, identity_of, pair_scores
from models.runtime import Manifest, Thresholds, session
from models.tools import facenet_weights as fw
from models.tools import pad
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
# Faces of neither test set (LFW fold 1's pairs, lfw_people's known people and strangers): the
# embedding centre and the INT8 calibration are made from these images, unlabelled.
CENTRE_SETS = ("deepface_pairs", "att_faces", "facenet_pytorch_images/test_images")
# τ are chosen on lfw_fold1's images without the people of this set (the open-set test's people).
THRESHOLD_EXCLUDES = "lfw_people"

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
        if pad_step(index, out, options.data, options.force, log):
            catalog.write_index(out, index)
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
    previous = index
    index = {
        "recipe": recipe(),
        "weights": {"name": options.weights, "sha256": source.weights_sha256},
        "calibrated": calibrated,
        "int8_requested": options.int8,
        "files": files,
        "default_embedder": default,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for key in ("pad", "pad_recipe"):
        if key in previous:
            index[key] = previous[key]
    for name in previous.get("pad", []):
        if name in previous.get("files", {}):
            index["files"][name] = previous["files"][name]
    pad_step(index, out, options.data, options.force, log)
    catalog.write_index(out, index)
    log(f"done: default embedder {default} in {out}")
    return index


# Live faces the build chooses the liveness threshold on (first halves; evaluate pad --half second reports).
PAD_CALIBRATION = ("pad/msu_mfsd_001/live", "lfw_people/known")


def pad_recipe() -> str:
    parts = [pad.weights_digest(), pad.PAD_FILES, PAD_CALIBRATION, pad.TARGET_BPCER, pad.GREY_SHARE,
             pad.PHOTO_MIN_FACE, pad.EXPORT_FORM]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def pad_step(index: dict[str, Any], out: Path, data: Path | None, force: bool, log: Log) -> bool:
    """The liveness models (from ``data``/pad), calibrated on the first halves of ``PAD_CALIBRATION``;
    recorded in ``index`` (``pad``: the files). False when there was nothing to do."""
    names = list(pad.PAD_FILES)
    if (not force and index.get("pad") == names and index.get("pad_recipe") == pad_recipe()
            and all(_verified(index, out / n) for n in names)):
        log("[pad] liveness models built and verified")
        return False
    if data is None or not (data / "pad").is_dir():
        log("[pad] liveness models skipped: their weights are in LABGATE_DATA's pad/ folder, not found")
        return False
    log("[pad] liveness models (MiniFASNetV2 2.7, MiniFASNetV1SE 4.0): export and check against torch")
    paths = pad.export_pad(data / "pad", out, log)
    index.setdefault("files", {}).update({p.name: catalog.sha256_of(p) for p in paths})
    index["pad"] = names
    sources = [str(data / s) for s in PAD_CALIBRATION if (data / s).is_dir()]
    if sources:
        from models.liveness import LivenessChecker
        from models.tools.pad_commands import live_sets

        checker = LivenessChecker(paths)
        detector = Detector(out, DetectorSettings(min_face=pad.PHOTO_MIN_FACE))
        sets = live_sets(sources, "first")
        scores = {k: pad.score_photos(checker, detector, v).scores for k, v in bar_sets(sets)}
        chosen = pad.choose(np.concatenate(list(scores.values())))
        described = "; ".join(f"{k} {len(v)}" for k, v in scores.items())
        chosen = replace(chosen, calibrated_on=f"{described} live faces (target BPCER {pad.TARGET_BPCER:g}, "
                                               f"grey share {pad.GREY_SHARE:g})")
        pad.write_thresholds_files(paths, chosen, pad.TARGET_BPCER, pad.GREY_SHARE)
        index["files"].update({p.name: catalog.sha256_of(p) for p in paths})
        log(f"      threshold {chosen.attack}, grey zone up to {chosen.live}; {chosen.calibrated_on}")
    else:
        log("      not calibrated (no live faces in LABGATE_DATA): the published threshold applies")
    index["pad_recipe"] = pad_recipe()
    return True


def bar_sets(sets: dict[str, list[Path]]) -> list[tuple[str, Iterable[Path]]]:
    return [(name, bar(f"      liveness {name}")(paths)) for name, paths in sets.items()]


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
    notes = "; ".join(n for n in (base.notes, f"INT8 calibrated on {sets.centre_from}") if n)
    int8_base = replace(base, precision="int8", notes=notes)
    write_manifest(int8, int8_base)
    int8_manifest = finish_manifest(int8, int8_base, "int8", sets, log)
    keep, why = _int8_verdict(fp32, int8, sets, log)
    if keep:
        log(f"      kept: {why}; model id {int8_manifest.model_id}")
    else:
        int8.unlink(missing_ok=True)
        log(f"      not kept: {why}")
    return keep


@dataclass
class CalibrationSets:
    centre: CropSet  # CENTRE_SETS: centring mean and INT8 calibration (images only)
    centre_from: str  # where the centre came from, for the manifest
    fold1: CropSet  # lfw_fold1 images: the INT8 accuracy check
    thresholds: CropSet  # lfw_fold1 images of people not in THRESHOLD_EXCLUDES: τ
    thresholds_from: str
    pairs_file: Path
    images: Path


def centre_images(data: Path) -> dict[str, list[Path]]:
    """The images of each of ``CENTRE_SETS`` present in ``data`` (flat, or in per-person folders)."""
    found = {}
    for name in CENTRE_SETS:
        folder = data / name
        if folder.is_dir():
            found[name] = image_files(folder) + [p for ps in people(folder).values() for p in ps]
    return found


def excluded_identities(data: Path) -> set[str]:
    """The people of ``THRESHOLD_EXCLUDES``: lfw_people's known folders and its strangers' names."""
    known, strangers = data / THRESHOLD_EXCLUDES / "known", data / THRESHOLD_EXCLUDES / "unknown"
    names = set(people(known)) if known.is_dir() else set()
    return names | ({identity_of(p) for p in image_files(strangers)} if strangers.is_dir() else set())


def calibration_sets(out: Path, fp32: Path, data: Path | None, log: Log) -> CalibrationSets | None:
    """The build's real faces (crops made with ``fp32``'s alignment and the models in ``out``)."""
    if data is None:
        log("      no LABGATE_DATA: embeddings uncentred, thresholds are uncalibrated defaults")
        return None
    sources = centre_images(data)
    missing = [name for name in CENTRE_SETS if name not in sources]
    if not sources:
        raise ValueError(f"{data} has none of {', '.join(CENTRE_SETS)}, the faces the embedding centre and the "
                         "INT8 calibration are made from; point LABGATE_DATA (or --data) at the shared data folder")
    if missing:
        log(f"      {data} lacks {', '.join(missing)}: the centre is made from the other sets only")
    engine = FaceEngine(EngineSettings(model_dir=out, embedder=fp32.name, face_selection="centre"))
    parts = {name: crop_images(engine, paths, bar(f"      crops {name}")) for name, paths in sources.items()}
    centre = CropSet([p for c in parts.values() for p in c.paths], np.concatenate([c.crops for c in parts.values()]),
                     {p: why for c in parts.values() for p, why in c.failures.items()})
    centre_from = (", ".join(f"{name} {len(c.paths)}" for name, c in parts.items())
                   + f": {len(centre.paths)} faces, none of lfw_fold1 or lfw_people")
    images = data / "lfw_fold1" / "images_flat"
    fold1 = crop_images(engine, image_files(images), bar("      crops lfw_fold1"))
    for name, crops in (*parts.items(), ("lfw_fold1", fold1)):
        if crops.failures:
            names = sorted(p.name for p in crops.failures)
            log(f"      {name}: no usable face in {len(names)} images (left out): {names[:5]}")
    excluded = excluded_identities(data)
    keep = [i for i, p in enumerate(fold1.paths) if identity_of(p) not in excluded]
    thresholds = CropSet([fold1.paths[i] for i in keep], fold1.crops[keep])
    left_out = {identity_of(p) for p in fold1.paths} & excluded
    thresholds_from = (f"lfw_fold1 without the {len(left_out)} people of {THRESHOLD_EXCLUDES} "
                       f"({len(thresholds.paths)} of {len(fold1.paths)} faces)")
    log(f"      centre and INT8 calibration: {centre_from}; thresholds: {thresholds_from}")
    return CalibrationSets(centre, centre_from, fold1, thresholds, thresholds_from,
                           data / "lfw_fold1" / "pairs_fold1.txt", images)


def finish_manifest(path: Path, base: Manifest, precision: str, sets: CalibrationSets | None, log: Log) -> Manifest:
    """Centre, thresholds and model id; written into the file."""
    alignment = dict(base.alignment)
    thresholds: Thresholds | None = None
    if sets is not None:
        network = Embedder(path, threads=2).network_output(sets.centre.crops)
        alignment["embedding_mean"] = [round(float(x), 6) for x in network.mean(axis=0)]
        alignment["embedding_mean_from"] = sets.centre_from
        write_manifest(path, replace(base, precision=precision, alignment=alignment))
        centred = Embedder(path, threads=2).embed_crops(sets.thresholds.crops)
        genuine, impostor = all_pair_scores(centred, [identity_of(p) for p in sets.thresholds.paths])
        thresholds = calibrate(genuine, impostor, TARGET_FMR, UNKNOWN_FMR, DECISION_MARGIN, sets.thresholds_from)
        # The top of the impostor scores travels with τ: the kiosk chooses τ_accept for its gallery size.
        thresholds = replace(thresholds, accept=math.ceil(thresholds.accept * 1e4) / 1e4,
                             impostor_tail=impostor_tail(impostor, TAIL_FMR), impostor_comparisons=len(impostor))
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
    log(f"      LFW fold 1: fp32 {accuracy[fp32] * 100:.2f} %, int8 {accuracy[int8] * 100:.2f} %; "
        f"one face: fp32 {speed[fp32]:.1f} ms, int8 {speed[int8]:.1f} ms")
    return int8_keep_rule(accuracy[fp32], accuracy[int8], speed[fp32], speed[int8])


def int8_keep_rule(fp32_accuracy: float, int8_accuracy: float, fp32_ms: float, int8_ms: float) -> tuple[bool, str]:
    """Keep the INT8 embedder only if it is faster than fp32 (per face, on this CPU) and loses at most
    ``INT8_MAX_ACCURACY_LOSS`` of LFW fold-1 accuracy (fractions, 0.003 = 0.3 points); and why."""
    loss = fp32_accuracy - int8_accuracy
    if int8_ms >= fp32_ms:
        return False, f"INT8 is not faster on this CPU ({int8_ms:.1f} ms vs {fp32_ms:.1f} ms)"
    if loss > INT8_MAX_ACCURACY_LOSS + 1e-9:  # "at most": a loss of exactly 0.3 points (0.990 - 0.987) passes
        limit = INT8_MAX_ACCURACY_LOSS * 100
        return False, f"INT8 loses {loss * 100:.2f} points of LFW fold-1 accuracy (limit {limit:.1f})"
    return True, f"{fp32_ms / int8_ms:.1f}x faster, accuracy change {-loss * 100:+.2f} points"


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
    parts = [PREPROCESSING_VERSION, ALIGNMENT, TARGET_FMR, UNKNOWN_FMR, DECISION_MARGIN, INT8_MAX_ACCURACY_LOSS,
             CENTRE_SETS, THRESHOLD_EXCLUDES, TAIL_FMR]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _up_to_date(index: dict[str, Any], out: Path, source: Source, calibrated: bool, int8: bool, made_by: str) -> bool:
    if not index or index.get("weights", {}).get("sha256") != source.weights_sha256:
        return False
    if index.get("recipe") != made_by:
        return False
    if index.get("calibrated") != calibrated or index.get("int8_requested") != int8:
        return False
    return all(_verified(index, out / name) for name in index.get("files", {})) and bool(index.get("default_embedder"))
