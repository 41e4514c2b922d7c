"""``labgate-models finetune``: fine-tune FaceNet (InceptionResnetV1) on the lab's own people with
triplet loss and online semi-hard mining, and export it as a new model with its own id.

- People are split by identity: some are held out (never trained on; the before/after table is
  measured on them), some kept for validation (to pick the best epoch, the pre-trained weights
  included), the rest train.
- Faces are detected and cropped exactly as at run time (the base model's alignment).
- Early blocks stay frozen (``--train-from``). The whole network stays in inference mode: the
  pre-trained BatchNorm statistics are folded into the weights, and re-estimating them from small
  batches would undo the pre-training; dropout is off too.
- Because the frozen part never changes, its output is computed once for ``--views`` augmented
  views of each training photo (flip, small rotation, scale and shift, brightness, contrast,
  grey), which makes CPU training practical: only the top blocks run every step.
- The result is exported with the build's own steps (ONNX export checked against torch, embedding
  centre and thresholds from the build's data, optional INT8), into a new model folder.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import catalog, metrics
from models.calibration import best_threshold, cross_validated_accuracy
from models.datasets import people
from models.detector import DetectorSettings
from models.embedder import Embedder
from models.engine import EngineSettings, FaceEngine
from models.evaluation import all_pair_scores, crop_images
from models.tools import facenet_weights as fw
from models.tools.build import (
    Log,
    calibration_sets,
    embedder_manifest,
    export_checked,
    finish_manifest,
    make_int8,
    resolve_source,
)
from models.tools.model_folder import start_folder, write_folder_index
from models.tools.progress import bar
from models.tools.reference import facenet_pytorch
from models.tools.report import (
    Report,
    confusion_figure,
    curves_figure,
    histogram_figure,
    percent,
    roc_figure,
    tsne_figure,
)
from models.tools.triplet import PeopleBatches, semi_hard_triplet_loss

BLOCKS = ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a", "conv2d_4b", "repeat_1",
          "mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8", "avgpool_1a", "dropout", "last_linear", "last_bn")
TRAINABLE_FROM = ("mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8", "last_linear")


@dataclass(frozen=True)
class Options:
    data: Path
    out: Path
    name: str
    epochs: int = 15
    holdout: float = 0.25
    val: float = 0.15
    people_per_batch: int = 8
    photos_per_person: int = 4
    lr: float = 5e-5
    triplet_margin: float = 0.2
    train_from: str = "mixed_7a"
    views: int = 4
    seed: int = 0
    int8: bool = False
    calibration_data: Path | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.train_from not in TRAINABLE_FROM:
            raise ValueError(f"--train-from {self.train_from!r}: use one of {', '.join(TRAINABLE_FROM)}")
        if not 0 < self.holdout < 1 or not 0 <= self.val < 1 or self.holdout + self.val >= 1:
            raise ValueError(f"--holdout {self.holdout} and --val {self.val} must leave people to train on")
        if self.epochs < 1 or self.views < 1:
            raise ValueError(f"--epochs and --views must be at least 1, got {self.epochs} and {self.views}")
        if "." in self.name or "/" in self.name:
            raise ValueError(f"--name {self.name!r} must be a plain file stem (no dots or slashes)")


@dataclass
class Split:
    train: list[str]
    val: list[str]
    held_out: list[str]


def split_people(names: list[str], holdout: float, val: float, seed: int) -> Split:
    """Identities shuffled with ``seed``: held out, validation, training (no person in two groups)."""
    order = sorted(names)
    np.random.default_rng(seed).shuffle(order)
    n_held = max(2, round(holdout * len(order)))
    n_val = max(2, round(val * len(order))) if val > 0 else 0
    if len(order) - n_held - n_val < 2:
        raise ValueError(f"{len(order)} people are too few to hold out {n_held}, validate on {n_val} and train on "
                         "at least 2; lower --holdout/--val or add people")
    return Split(sorted(order[n_held + n_val:]), sorted(order[n_held:n_held + n_val]), sorted(order[:n_held]))


@dataclass
class Faces:
    """Run-time crops of one group of people, labelled."""

    crops: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) person index into ``names``
    names: list[str]
    failures: dict[Path, str] = field(default_factory=dict)


def group_faces(engine: FaceEngine, photos: dict[str, list[Path]], group: list[str], label: str) -> Faces:
    paths = [p for name in group for p in photos[name]]
    owner = {p: i for i, name in enumerate(group) for p in photos[name]}
    crops = crop_images(engine, paths, bar(f"faces ({label})"))
    return Faces(crops.crops, np.array([owner[p] for p in crops.paths], dtype=np.int64), group, crops.failures)


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random mirror, rotation (±10°), scale (0.9-1.1), shift (±6 %), brightness and contrast (±20 %)
    and grey (1 in 5) on float RGB pixels (N, 3, H, W) in 0-255."""
    n = len(batch)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    x = torch.where((torch.rand(n, generator=generator) < 0.5)[:, None, None, None], batch.flip(-1), batch)
    angle = uniform(-10, 10) * math.pi / 180
    scale = uniform(0.9, 1.1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / scale
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, 0, 2] = uniform(-0.06, 0.06)
    theta[:, 1, 2] = uniform(-0.06, 0.06)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(0.8, 1.2)[:, None, None, None] + mean * uniform(0.8, 1.2)[:, None, None, None]
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None].expand_as(x)
    x = torch.where((torch.rand(n, generator=generator) < 0.2)[:, None, None, None], grey, x)
    return x.clamp(0, 255)


class Network:
    """InceptionResnetV1 cut in two at ``train_from``: a frozen head and a trainable tail."""

    def __init__(self, state_dict: dict[str, torch.Tensor], train_from: str, mean: float, std: float) -> None:
        self.net = facenet_pytorch().InceptionResnetV1()
        self.net.load_state_dict({k: v for k, v in state_dict.items() if not k.startswith("logits.")}, strict=True)
        self.net.eval()  # always: folded BatchNorm statistics, no dropout (see the module's docstring)
        cut = BLOCKS.index(train_from)
        self.head, self.tail = BLOCKS[:cut], BLOCKS[cut:]
        for name in self.head:
            for parameter in getattr(self.net, name).parameters():
                parameter.requires_grad_(False)
        self.mean, self.std = mean, std

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for name in self.tail for p in getattr(self.net, name).parameters()]

    def head_features(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels - self.mean) / self.std
        with torch.no_grad():
            for name in self.head:
                x = getattr(self.net, name)(x)
        return x

    def tail_embeddings(self, features: torch.Tensor) -> torch.Tensor:
        x = features
        for name in self.tail:
            if name == "last_linear":
                x = x.view(x.shape[0], -1)
            x = getattr(self.net, name)(x)
        return torch.nn.functional.normalize(x, p=2, dim=1)

    def tail_state(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{k}": v.detach().clone() for name in self.tail
                for k, v in getattr(self.net, name).state_dict().items()}

    def load_tail(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state, strict=False)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}


def cached_features(network: Network, faces: Faces, views: int, seed: int, label: str,
                    chunk: int = 32) -> torch.Tensor:
    """(N, views, C, H, W) float16 head outputs; view 0 is the photo itself, the others augmented."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.from_numpy(faces.crops).permute(0, 3, 1, 2).float()
    out: list[torch.Tensor] = []
    for start in bar(f"frozen features ({label}, {views} views)", unit="batch")(range(0, len(pixels), chunk)):
        part = pixels[start:start + chunk]
        per_view = [network.head_features(part if v == 0 else augment(part, generator)) for v in range(views)]
        out.append(torch.stack(per_view, dim=1).half())
    return torch.cat(out)


def separation(vectors: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AUC, d') over every pair of the photos: how well a group's people are kept apart."""
    genuine, impostor = all_pair_scores(vectors, [str(x) for x in labels])
    if len(genuine) == 0 or len(impostor) == 0:
        return float("nan"), float("nan")
    return metrics.auc(genuine, impostor), metrics.d_prime(genuine, impostor)


@dataclass
class History:
    epochs: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    active: list[float] = field(default_factory=list)
    val_auc: list[float] = field(default_factory=list)
    val_d_prime: list[float] = field(default_factory=list)
    best_epoch: int = 0


def train(network: Network, train_features: torch.Tensor, train_labels: np.ndarray, val_features: torch.Tensor,
          val_labels: np.ndarray, options: Options, log: Log) -> History:
    """Adam on the tail; after each epoch the validation people decide whether to keep the weights."""
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    batches = PeopleBatches(train_labels, options.people_per_batch, options.photos_per_person, rng)
    optimiser = torch.optim.Adam(network.parameters(), lr=options.lr)
    steps = max(1, math.ceil(len(train_labels) / (batches.people * batches.photos)))
    history = History()

    def validate() -> tuple[float, float]:
        if len(val_labels) == 0:
            return float("nan"), float("nan")
        with torch.no_grad():
            vectors = network.tail_embeddings(val_features[:, 0].float()).numpy()
        return separation(vectors, val_labels)

    best = validate()
    best_state = network.tail_state()
    history.epochs.append(0)
    history.loss.append(float("nan"))
    history.active.append(float("nan"))
    history.val_auc.append(best[0])
    history.val_d_prime.append(best[1])
    log(f"      epoch 0 (pre-trained): validation AUC {best[0]:.5f}, d' {best[1]:.2f}")
    for epoch in range(1, options.epochs + 1):
        losses, active = [], []
        for _ in range(steps):
            index = batches()
            view = rng.integers(0, train_features.shape[1], size=len(index))
            features = train_features[torch.from_numpy(index), torch.from_numpy(view)].float()
            loss, share = semi_hard_triplet_loss(network.tail_embeddings(features),
                                                 torch.from_numpy(train_labels[index]), options.triplet_margin)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            active.append(share)
        score = validate()
        history.epochs.append(epoch)
        history.loss.append(float(np.mean(losses)))
        history.active.append(float(np.mean(active)))
        history.val_auc.append(score[0])
        history.val_d_prime.append(score[1])
        better = len(val_labels) == 0 or (score[0], score[1]) > best
        if better:
            best, best_state, history.best_epoch = score, network.tail_state(), epoch
        log(f"      epoch {epoch}: triplet loss {history.loss[-1]:.4f} ({history.active[-1]:.0%} of triplets active), "
            f"validation AUC {score[0]:.5f}, d' {score[1]:.2f}{'  (best so far)' if better else ''}")
    network.load_tail(best_state)
    return history


def held_out_figures(vectors: np.ndarray, faces: Faces) -> tuple[dict[str, Any], np.ndarray]:
    """Verification over every pair of the held-out photos' embeddings, and one-shot identification
    among the held-out people (first photo of each enrolled, the rest searched)."""
    genuine, impostor = all_pair_scores(vectors, [str(x) for x in faces.labels])
    scores = np.concatenate([genuine, impostor])
    same = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    accuracy, std, _ = cross_validated_accuracy(scores, same)
    rate, _ = metrics.eer(genuine, impostor)
    first = {int(label): i for i, label in reversed(list(enumerate(faces.labels)))}
    enrolled = sorted(first)
    gallery = vectors[[first[p] for p in enrolled]]
    probes = [i for i in range(len(vectors)) if first[int(faces.labels[i])] != i]
    predicted = np.array(enrolled)[np.argmax(vectors[probes] @ gallery.T, axis=1)] if probes else np.zeros(0)
    truth = faces.labels[probes]
    figures = {
        "pairs": len(scores), "genuine": len(genuine), "impostor": len(impostor),
        "accuracy": round(accuracy, 4), "accuracy_std": round(std, 4),
        "best_threshold": round(best_threshold(scores, same), 4),
        "auc": round(metrics.auc(genuine, impostor), 5), "eer": round(rate, 4),
        "tar_at_far": {f"{far:g}": metrics.tar_at_far(genuine, impostor, far) for far in (1e-2, 1e-3)},
        "rank1_one_shot": round(float((predicted == truth).mean()), 4) if probes else None,
        "d_prime": round(metrics.d_prime(genuine, impostor), 3),
        "genuine_mean": round(float(genuine.mean()), 4), "impostor_mean": round(float(impostor.mean()), 4),
    }
    confusion = np.zeros((len(faces.names), len(faces.names)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        confusion[int(t), int(p)] += 1
    return figures, confusion


def table(before: dict[str, Any], after: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    def tar(f: dict[str, Any], far: str) -> str:
        v = f["tar_at_far"][far]
        return percent(v["tar"]) + ("" if v["resolved"] else " (unresolved)")

    rows = [
        ["accuracy (10-fold)", *(f"{percent(f['accuracy'])} ± {percent(f['accuracy_std'])}" for f in (before, after))],
        ["best cosine threshold", *(f"{f['best_threshold']:.3f}" for f in (before, after))],
        ["ROC AUC", *(f"{f['auc']:.5f}" for f in (before, after))],
        ["EER", *(percent(f["eer"]) for f in (before, after))],
        ["TAR at FAR 1e-2", *(tar(f, "0.01") for f in (before, after))],
        ["TAR at FAR 1e-3", *(tar(f, "0.001") for f in (before, after))],
        ["rank-1, one photo enrolled", *(percent(f["rank1_one_shot"]) for f in (before, after))],
        ["d' (separation)", *(f"{f['d_prime']:.2f}" for f in (before, after))],
        ["mean score: same / different", *(f"{f['genuine_mean']:.3f} / {f['impostor_mean']:.3f}"
                                           for f in (before, after))],
    ]
    return ["held-out people", "pre-trained", "fine-tuned"], rows


def finetune(base: FaceEngine, weights: fw.Weights, options: Options, report_dir: Path, log: Log) -> dict[str, Any]:
    manifest = base.embedder.manifest
    if weights.sha256 != manifest.weights_sha256:
        raise ValueError(f"the base model {base.embedder.path.name} was made from weights "
                         f"{manifest.weights_sha256[:12]}…, not {weights.source} ({weights.sha256[:12]}…); "
                         "pass the matching --weights")
    photos = people(options.data)
    if not photos:
        raise ValueError(f"{options.data} has no person folders with images (expected {options.data}/<person>/*.jpg)")
    split = split_people(list(photos), options.holdout, options.val, options.seed)
    log(f"[1/5] {len(photos)} people in {options.data}: {len(split.train)} train, {len(split.val)} validation, "
        f"{len(split.held_out)} held out (never trained on)")
    groups = {name: group_faces(base, photos, getattr(split, name), name) for name in ("train", "val", "held_out")}
    failures = {p: why for g in groups.values() for p, why in g.failures.items()}
    if failures:
        log(f"      no usable face in {len(failures)} photos (left out): {sorted(p.name for p in failures)[:5]}")

    log(f"[2/5] frozen features up to {options.train_from}, then triplet training ({options.epochs} epochs)")
    network = Network(weights.state_dict, options.train_from, manifest.mean, manifest.std)
    started = time.monotonic()
    train_features = cached_features(network, groups["train"], options.views, options.seed, "train")
    val_features = cached_features(network, groups["val"], 1, options.seed, "validation")
    history = train(network, train_features, groups["train"].labels, val_features, groups["val"].labels, options, log)
    minutes = (time.monotonic() - started) / 60
    if history.best_epoch == 0 and split.val:
        log("      no epoch beat the pre-trained weights on the validation people; exporting them unchanged")
    state = network.state_dict()

    log("[3/5] export the fine-tuned embedder")
    start_folder(base.embedder.path.parent, options.out, options.force)
    weights_file = options.out / f"{options.name}.pt"
    torch.save(state, weights_file)
    tuned = fw.Weights(
        name="finetuned",
        state_dict=state,
        source=(f"{manifest.model_id} fine-tuned on {options.data.name} ({len(split.train)} people; triplet loss, "
                f"semi-hard mining, from {options.train_from}, best epoch {history.best_epoch} of {options.epochs}); "
                f"state dict {weights_file.name}"),
        sha256=fw.sha256_file(weights_file),
        training_data=f"{weights.training_data} + {options.data.name}",
        published_lfw=None,
        licence=f"{manifest.licence}; fine-tuned on the lab's own photos, which only their owners' consent covers",
    )
    kept = {k: v for k, v in manifest.alignment.items() if k in ("method", "margin", "flip", "template")}
    base_manifest = replace(embedder_manifest(tuned), alignment=kept,
                            notes=(f"lr {options.lr}, triplet margin {options.triplet_margin}, batches "
                                   f"{options.people_per_batch}x{options.photos_per_person}, {options.views} views"))
    fp32 = options.out / f"{options.name}.fp32.onnx"
    export_checked(state, fp32, base_manifest, log)
    log("[4/5] centre and thresholds (the build's data), optional INT8")
    sets = calibration_sets(options.out, fp32, options.calibration_data, log)
    new_manifest = finish_manifest(fp32, base_manifest, "fp32", sets, log)
    default = fp32.name
    if options.int8:
        if sets is None:
            log("      INT8 skipped: it needs the build's data (--calibration-data or LABGATE_DATA)")
        elif make_int8(fp32, options.out / f"{options.name}.int8.onnx", base_manifest, sets, log):
            default = f"{options.name}.int8.onnx"
    write_folder_index(options.out, default, {"model": str(base.embedder.path), "model_id": manifest.model_id,
                                              "by": "labgate-models finetune", "data": str(options.data)})

    log("[5/5] before and after, on the held-out people")
    held = groups["held_out"]
    vectors = {"pre-trained": base.embedder.embed_crops(held.crops),
               "fine-tuned": Embedder(fp32, threads=2).embed_crops(held.crops)}
    before, _ = held_out_figures(vectors["pre-trained"], held)
    after, after_confusion = held_out_figures(vectors["fine-tuned"], held)
    summary: dict[str, Any] = {
        "command": "finetune",
        "data": str(options.data),
        "split": {"train": split.train, "validation": split.val, "held_out": split.held_out},
        "photos": {name: len(g.labels) for name, g in groups.items()},
        "photos_without_face": {f"{p.parent.name}/{p.name}": why for p, why in sorted(failures.items())},
        "base_model": {"file": base.embedder.path.name, "model_id": manifest.model_id},
        "new_model": {"folder": str(options.out), "file": fp32.name, "model_id": new_manifest.model_id,
                      "default": default, "weights_unchanged": history.best_epoch == 0,
                      "thresholds": asdict(new_manifest.thresholds) if new_manifest.thresholds else None},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.__dict__.items()},
        "training_minutes": round(minutes, 2),
        "history": {"epoch": history.epochs, "loss": history.loss, "active_triplets": history.active,
                    "val_auc": history.val_auc, "val_d_prime": history.val_d_prime,
                    "best_epoch": history.best_epoch},
        "held_out": {"before": before, "after": after},
        "report": str(report_dir),
    }
    _report(report_dir, summary, history, held, vectors, after_confusion)
    return summary


def _report(folder: Path, summary: dict[str, Any], history: History, held: Faces, vectors: dict[str, np.ndarray],
            confusion: np.ndarray) -> None:
    report = Report(folder, f"Fine-tuning on {summary['data']}")
    new = summary["new_model"]
    report.text(f"New model `{new['model_id']}` in `{new['folder']}` (default embedder {new['default']}), "
                f"from `{summary['base_model']['model_id']}`.",
                f"People: {len(summary['split']['train'])} trained on, {len(summary['split']['validation'])} to pick "
                f"the epoch (best: {history.best_epoch}), {len(summary['split']['held_out'])} held out "
                f"({summary['photos']['held_out']} photos; every pair of them below). Training took "
                f"{summary['training_minutes']} min.")
    if new["weights_unchanged"]:
        report.text("**Weights unchanged**: no epoch beat the pre-trained weights on the validation people, so the "
                    "new model carries the base model's weights (only its id, centre and thresholds are new).")
    header, rows = table(summary["held_out"]["before"], summary["held_out"]["after"])
    report.table(header, rows)
    if summary["photos_without_face"]:
        report.text("## Detection failures", f"{len(summary['photos_without_face'])} photos had no usable face and "
                    "were left out:")
        report.table(["photo", "reason"], list(summary["photos_without_face"].items()))
    report.text("## Plots")
    report.figure("training.png", curves_figure(
        history.epochs, {"triplet loss": history.loss, "share of triplets active": history.active}, "epoch",
        "Training (epoch 0 = pre-trained)", right={"validation d'": history.val_d_prime}), "training curves")
    names = [held.names[i] for i in held.labels]
    sets = {label: (v, all_pair_scores(v, names)) for label, v in vectors.items()}
    report.figure("roc.png", roc_figure({k: v[1] for k, v in sets.items()}, "ROC on the held-out people"), "ROC")
    report.figure("scores.png", histogram_figure({k: v[1] for k, v in sets.items()}, {},
                                                 "Scores of the held-out people's pairs"), "score histograms")
    report.figure("confusion.png", confusion_figure(confusion, held.names, held.names,
                                                     "Fine-tuned: one-shot identification of held-out people"),
                  "confusion matrix")
    panels: dict[str, tuple[np.ndarray, list[str | None]]] = {k: (v[0], list(names)) for k, v in sets.items()}
    report.figure("tsne.png", tsne_figure(panels, "t-SNE of the held-out people, before and after"), "t-SNE")
    report.link("summary.json", "all figures as JSON (summary.json)")
    report.write(summary)


def main(args: argparse.Namespace, model_dir: Path, report: Path | None) -> int:
    index = catalog.read_index(model_dir)
    base_file = args.embedder
    if base_file == "auto":
        base_file = next((n for n in index.get("files", {}) if n.endswith(".fp32.onnx")), "auto")
    detector = DetectorSettings(min_face=args.min_face)
    base = FaceEngine(EngineSettings(model_dir=model_dir, embedder=base_file, face_selection="centre",
                                     detector=detector))
    weights_name = args.weights or index.get("weights", {}).get("name")
    if not weights_name:
        raise ValueError(f"{model_dir} does not say which weights its models came from; pass --weights")
    source = resolve_source(weights_name, model_dir.parent / "cache")
    name = args.name or f"facenet-{source.name}-ft"
    out = args.out or catalog.ROOT / "artifacts" / "finetuned" / name
    options = Options(
        data=args.data, out=out, name=name, epochs=args.epochs, holdout=args.holdout, val=args.val,
        people_per_batch=args.people_per_batch, photos_per_person=args.photos_per_person, lr=args.lr,
        triplet_margin=args.triplet_margin, train_from=args.train_from, views=args.views, seed=args.seed,
        int8=args.int8, calibration_data=args.calibration_data or catalog.data_dir(), force=args.force,
    )
    torch.set_num_threads(2)
    summary = finetune(base, source.load(), options, report or out / "report", log=print)
    header, rows = table(summary["held_out"]["before"], summary["held_out"]["after"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"new model {summary['new_model']['model_id']} in {out}; report: {summary['report']}/summary.md")
    print(json.dumps(summary, sort_keys=True, default=str))
    return 0
