"""Speed and memory of the face pipeline, ours against facenet-pytorch's own, in one run.

Frames: 640x480, each a real photo from lfw_people/known placed on a plain synthetic wall at a door
distance (face about 50-140 px wide). Every pipeline identifies the face against a gallery enrolled
from the same people's other photos with its own embeddings; the table says whether all pipelines
name the same person on every frame.

    .venv/bin/python bench/pipeline.py [--frames 60]

Prints medians and p95 per stage and the peak RSS of a process that runs only the kiosk run-time. The
"liveness" column is the cost of the liveness check (both MiniFASNets on the face's two crops) on a
frame whose face is checked, beside the rest; it is not part of "end to end" (the kiosk checks a few
frames per track, not every frame); "liveness CPU" is the same in this thread's CPU time, which
other jobs on a shared machine inflate less than wall time.
Never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import catalog  # noqa: E402
from models.datasets import people  # noqa: E402
from models.detector import DetectorSettings  # noqa: E402
from models.engine import EngineSettings, FaceEngine, primary_index  # noqa: E402
from models.images import read_image  # noqa: E402
from models.liveness import LivenessChecker  # noqa: E402
from models.runtime import ModelError  # noqa: E402


def compose_frames(known: Path, count: int, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """Real LFW photos (250 px, face ~100 px) scaled and pasted with a soft edge onto a wall."""
    import cv2

    rng = np.random.default_rng(seed)
    photos = [(person, path) for person, paths in people(known).items() for path in paths[4:]]
    frames, truth = [], []
    for i in range(count):
        person, path = photos[int(rng.integers(len(photos)))]
        wall = np.linspace(150, 95, 640)[None, :, None] + np.linspace(-15, 15, 480)[:, None, None]
        frame = np.clip(wall + rng.normal(0, 4, (480, 640, 1)), 0, 255).repeat(3, axis=2)
        frame[:, 40:60] *= 0.6  # a door frame
        photo = read_image(path)
        side = int(rng.uniform(125, 350))  # face ~ 50-140 px
        patch = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA).astype(np.float64)
        yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
        alpha = np.clip((0.5 - np.sqrt(xx**2 + yy**2)) * 8, 0, 1)[:, :, None]
        x0 = int(rng.integers(0, 640 - side)) if side < 640 else 0
        y0 = int(rng.integers(0, max(1, 480 - side)))
        region = frame[y0:y0 + side, x0:x0 + side]
        h, w = region.shape[:2]
        region[:] = alpha[:h, :w] * patch[:h, :w] + (1 - alpha[:h, :w]) * region
        frames.append(frame.astype(np.uint8))
        truth.append(person)
        del i
    return frames, truth


@dataclass
class Result:
    name: str
    detect_ms: list[float]
    embed_ms: list[float]
    total_ms: list[float]
    names: list[str | None]
    live_ms: list[float] | None = None  # the liveness check per face, where the pipeline has one
    live_cpu_ms: list[float] | None = None  # the same in this thread's CPU time (steadier on a shared machine)


def time_ours(engine: FaceEngine, frames: list[np.ndarray], gallery_photos: dict[str, list[Path]], name: str,
              liveness: LivenessChecker | None = None) -> Result:
    gallery = engine.new_gallery()
    for person, photos in gallery_photos.items():
        vectors = [engine.embed_photo(read_image(p), check_quality=False).embedding for p in photos]
        gallery.add(person, np.stack([v for v in vectors if v is not None]), engine.model_id)
    detect, embed, total, names, live, live_cpu = [], [], [], [], [], []
    for frame in [frames[0], *frames]:  # the first frame warms up and is not counted
        start = time.perf_counter()
        faces = engine.detector.detect(frame)
        middle = time.perf_counter()
        who = None
        if faces:
            probe = engine.embedder.embed_faces(frame, [faces[primary_index(faces, frame.shape, "largest")]])[0]
            who = gallery.match(probe, engine.model_id, top=1)[0].person
        end = time.perf_counter()
        if faces and liveness is not None:
            cpu = time.thread_time()  # the liveness sessions run in this thread (one intra-op thread)
            liveness.score(frame, faces[primary_index(faces, frame.shape, "largest")])
            live.append((time.perf_counter() - end) * 1000)
            live_cpu.append((time.thread_time() - cpu) * 1000)
        detect.append((middle - start) * 1000)
        embed.append((end - middle) * 1000)
        total.append((end - start) * 1000)
        names.append(who)
    checked = liveness is not None
    return Result(name, detect[1:], embed[1:], total[1:], names[1:], live[1:] if checked else None,
                  live_cpu[1:] if checked else None)


def time_reference(frames: list[np.ndarray], gallery_photos: dict[str, list[Path]], min_face: int) -> Result:
    import torch

    from models.tools.export import torch_embedder
    from models.tools.facenet_weights import casia_weights
    from models.tools.reference import facenet_pytorch

    torch.set_num_threads(2)
    fp = facenet_pytorch()
    mtcnn = fp.MTCNN(image_size=160, margin=32, min_face_size=min_face)
    net = torch_embedder(casia_weights(catalog.model_dir().parent / "cache").state_dict)

    def embed(rgb: np.ndarray) -> np.ndarray | None:
        face = mtcnn(rgb)
        if face is None:
            return None
        with torch.no_grad():
            return net(face[None]).numpy()[0]

    templates, owners = [], []
    for person, photos in gallery_photos.items():
        for photo in photos:
            vector = embed(read_image(photo))
            if vector is not None:
                templates.append(vector)
                owners.append(person)
    matrix = np.stack(templates)
    detect, embed_ms, total, names = [], [], [], []
    for frame in [frames[0], *frames]:
        with torch.no_grad():
            start = time.perf_counter()
            boxes, _ = mtcnn.detect(frame)
            middle = time.perf_counter()
            who = None
            if boxes is not None:
                crop = mtcnn.extract(frame, boxes[:1], None)
                vector = net(crop[None]).numpy()[0]
                who = owners[int(np.argmax(matrix @ vector))]
            end = time.perf_counter()
        detect.append((middle - start) * 1000)
        embed_ms.append((end - middle) * 1000)
        total.append((end - start) * 1000)
        names.append(who)
    return Result(f"facenet-pytorch, min face {min_face}", detect[1:], embed_ms[1:], total[1:], names[1:])


def peak_rss_mb(embedder: str, frames_dir: Path) -> float:
    """Peak RSS (VmHWM) of a fresh process that imports only the run-time and runs the pipeline.

    Not ru_maxrss: Linux carries that across fork and exec from the parent (which holds torch here).
    The frames are read one file at a time, as a camera would deliver them (a memory-mapped file
    would count its touched pages as resident).
    """
    code = f"""
import sys
import numpy as np
sys.path.insert(0, {str(ROOT)!r})
from models.detector import DetectorSettings
from models.engine import EngineSettings, FaceEngine
engine = FaceEngine(EngineSettings(embedder={embedder!r}, detector=DetectorSettings(min_face=40)))
for path in sorted(__import__("pathlib").Path({str(frames_dir)!r}).glob("*.npy")):
    engine.analyse(np.load(path))
assert "torch" not in sys.modules
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(int(status) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    data = catalog.data_dir()
    if data is None:
        sys.exit("bench/pipeline.py needs the shared face data: set LABGATE_DATA")
    known = data / "lfw_people" / "known"
    frames, truth = compose_frames(known, args.frames)
    gallery_photos = {person: paths[:4] for person, paths in people(known).items()}
    files = catalog.read_index(catalog.model_dir())["files"]
    fp32 = next(n for n in files if n.endswith(".fp32.onnx"))
    int8 = next((n for n in files if n.endswith(".int8.onnx")), None)

    try:
        liveness: LivenessChecker | None = LivenessChecker.from_dir(catalog.model_dir())
    except ModelError as exc:
        print(f"no liveness column: {exc}")
        liveness = None
    runs: list[Callable[[], Result]] = [partial(time_reference, frames, gallery_photos, m) for m in (20, 40)]
    for label, embedder, settings in [
        ("ours fp32, min face 40", fp32, DetectorSettings(min_face=40)),
        ("ours int8, min face 40", int8, DetectorSettings(min_face=40)),
        ("ours int8, half-size frame", int8, DetectorSettings(min_face=20, scale=0.5)),
    ]:
        if embedder:
            engine = FaceEngine(EngineSettings(embedder=embedder, detector=settings))
            runs.append(partial(time_ours, engine, frames, gallery_photos, label, liveness))
    results = [run() for run in runs]

    def stat(values: list[float]) -> str:
        return f"{np.median(values):7.1f} {np.percentile(values, 95):7.1f}"

    reference = results[0]
    print(f"{len(frames)} frames 640x480, {os.cpu_count()} cores; ms as median p95")
    header = ["pipeline".ljust(30), "detect".rjust(15), "embed".rjust(15), "end to end".rjust(15)]
    print(" ".join([*header, "speed-up".rjust(9), "right".rjust(6), "agrees".rjust(7), "liveness".rjust(15),
                    "liveness CPU".rjust(15)]))
    for r in results:
        right = sum(n == t for n, t in zip(r.names, truth, strict=True))
        agrees = sum(n == m for n, m in zip(r.names, reference.names, strict=True))
        speedup = np.median(reference.total_ms) / np.median(r.total_ms)
        print(f"{r.name:<30} {stat(r.detect_ms):>15} {stat(r.embed_ms):>15} {stat(r.total_ms):>15} "
              f"{speedup:8.1f}x {right:>3}/{len(frames)} {agrees:>3}/{len(frames)} "
              f"{stat(r.live_ms) if r.live_ms else '-':>15} {stat(r.live_cpu_ms) if r.live_cpu_ms else '-':>15}")
    print("'agrees': same person named as facenet-pytorch at min face 20, frame by frame; 'liveness': both "
          "MiniFASNets on one checked face (target <= 5 ms), not in 'end to end'; 'liveness CPU': the same in CPU "
          "time, which other jobs on the machine inflate less")
    with tempfile.TemporaryDirectory() as scratch:
        for i, frame in enumerate(frames):
            np.save(Path(scratch) / f"{i:05d}.npy", frame)
        rss = {name: peak_rss_mb(name, Path(scratch)) for name in (fp32, int8) if name}
    print("peak RSS of a run-time-only process over all frames: "
          + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))
    print(f"this process (with torch): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(json.dumps({r.name: round(float(np.median(r.total_ms)), 2) for r in results}))


if __name__ == "__main__":
    main()
