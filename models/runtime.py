"""ONNX Runtime sessions tuned for a small CPU, and the manifest every LabGate model carries.

Several small sessions spinning on 2 cores measured 105 ms per frame against 43 ms with spinning
off, so every session here has spin-waiting off and an explicit thread count. The CPU memory arena
is off too: it held ~20 MB more per process and made no measurable difference to speed (31.0 vs
31.4 ms per frame, bench/pipeline.py's frames).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

MANIFEST_KEY = "labgate.manifest"
MANIFEST_FORMAT = "labgate-model/1"


class ModelError(RuntimeError):
    """A model file is missing, unreadable, or not what its manifest says."""


@dataclass(frozen=True)
class Thresholds:
    """Open-set decision thresholds on cosine similarity of L2-normalised embeddings."""

    accept: float  # τ_accept: best person's score at or above this may be accepted
    unknown: float  # τ_unknown: below this the face is a stranger
    margin: float  # best person must beat the next person by at least this
    target_fmr: float | None = None  # the false-match rate τ_accept was chosen for
    calibrated_on: str = "uncalibrated defaults"
    # Calibration data for choosing τ_accept at any gallery size (models.calibration.for_gallery):
    # the highest impostor comparison scores of the calibration set, highest first, and how many
    # impostor comparisons they are the top of. Empty: τ_accept stays as it is whatever the gallery.
    impostor_tail: tuple[float, ...] = ()
    impostor_comparisons: int = 0
    gallery_size: int | None = None  # the gallery τ_accept was chosen for (None: not chosen for one)
    expected_fpir: float | None = None  # expected share of strangers accepted per walk-up at that size

    def __post_init__(self) -> None:
        if not -1.0 <= self.unknown <= self.accept <= 1.0:
            raise ValueError(
                f"thresholds must satisfy -1 <= unknown <= accept <= 1, got unknown={self.unknown} "
                f"accept={self.accept}"
            )
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        if self.impostor_tail and len(self.impostor_tail) > self.impostor_comparisons:
            raise ValueError(f"impostor_tail has {len(self.impostor_tail)} scores but impostor_comparisons is "
                             f"{self.impostor_comparisons}")


@dataclass(frozen=True)
class Manifest:
    """What a model is and how to feed it; stored as JSON in the ONNX file's metadata_props."""

    model_id: str
    kind: str  # embedder | mtcnn-pnet | mtcnn-rnet | mtcnn-onet | pad
    architecture: str
    weights_source: str
    weights_sha256: str
    input_size: tuple[int, int]  # (height, width); (0, 0) when dynamic
    colour: str  # channel order the model expects: RGB or BGR
    mean: float  # input = (pixel - mean) / std
    std: float
    layout: str = "NCHW"
    precision: str = "fp32"
    embedding_size: int = 0
    preprocessing_version: int = 1
    alignment: dict[str, Any] = field(default_factory=dict)
    thresholds: Thresholds | None = None
    # pad (liveness) models: crop_scale, live_class, and once calibrated threshold, grey_top, calibrated_on
    liveness: dict[str, Any] = field(default_factory=dict)
    licence: str = ""
    notes: str = ""
    format: str = MANIFEST_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        if raw.get("format") != MANIFEST_FORMAT:
            raise ModelError(f"manifest format {raw.get('format')!r} is not {MANIFEST_FORMAT!r}")
        raw["input_size"] = tuple(raw["input_size"])
        if raw.get("thresholds") is not None:
            raw_thresholds = dict(raw["thresholds"])
            raw_thresholds["impostor_tail"] = tuple(raw_thresholds.get("impostor_tail", ()))
            raw["thresholds"] = Thresholds(**raw_thresholds)
        return cls(**raw)


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An InferenceSession on the CPU with ``threads`` intra-op threads and no spin-waiting."""
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; build the models with `labgate-models build`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load model {path}: {exc}") from exc


def manifest_of(sess: ort.InferenceSession, path: Path) -> Manifest:
    """The manifest stored in a loaded model; a model without one is refused, never guessed."""
    meta = sess.get_modelmeta().custom_metadata_map
    if MANIFEST_KEY not in meta:
        raise ModelError(f"{path} has no {MANIFEST_KEY!r} metadata; rebuild it with `labgate-models build`")
    return Manifest.from_json(meta[MANIFEST_KEY])


def read_manifest(path: Path) -> Manifest:
    """Load just enough of a model to read its manifest."""
    return manifest_of(session(path), path)
