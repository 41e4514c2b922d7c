"""Fixtures for the enrolment tests: the kiosk's face engine, a device store with lfw_people/known
imported through `labgate-enroll import` (real photos, first four of each person), the other photos'
embeddings as probes, and an enrolment service on a copy of that store. Nothing is faked but the
camera (a scripted source of real photos, for the screen)."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from device import config as device_config
from device.store import Store
from enroll import cli
from enroll.config import EnrolConfig
from enroll.service import EnrolmentService, portrait_view
from kiosk.scene import build
from models.datasets import people
from models.engine import FaceEngine
from models.images import read_image
from tests.kiosk.conftest import xvfb  # noqa: F401  (the virtual screen, shared with the kiosk's GUI tests)

ROOT = Path(__file__).resolve().parents[2]
ENROL_PHOTOS = 4  # acceptance 1: enrol from the first four photos of each person


@pytest.fixture(scope="session")
def door_engine(model_dir: Path) -> FaceEngine:
    """The engine as the kiosk builds it from config.toml (the door picks the nearest face)."""
    return FaceEngine(device_config.load(ROOT / "config.toml").engine)


@pytest.fixture(scope="session")
def known(data_dir: Path) -> dict[str, list[Path]]:
    return people(data_dir / "lfw_people" / "known")


def run_cli(*args: str) -> tuple[int, str, str]:
    """``labgate-enroll ARGS`` in this process (the engine loads from config.toml); exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def write_config(folder: Path, keep_crops: bool = True, **enrol: object) -> Path:
    """config.toml of the checkout with an [enrol] table for a test (crop key in ``folder``)."""
    text = (ROOT / "config.toml").read_text()
    start = text.index("[enrol]")
    end = text.index("\n[", start + 1) if "\n[" in text[start + 1:] else len(text)
    values = {"keep_crops": keep_crops, "key_file": str(folder / "crops.key"), **enrol}
    table = "[enrol]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    config = text[:start] + table + text[end:]
    config = config.replace('dir = "artifacts/models"', f'dir = "{ROOT / "artifacts" / "models"}"')
    path = folder / "config.toml"
    path.write_text(config)
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


@dataclass(frozen=True)
class Imported:
    """lfw_people/known imported (first four photos each) into a store, through the CLI."""

    db: Path
    key: Path
    config: Path
    code: int
    stdout: str
    report: list[dict[str, str]]


@pytest.fixture(scope="session")
def imported(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, door_engine: FaceEngine) -> Imported:
    folder = tmp_path_factory.mktemp("imported")
    config = write_config(folder, keep_crops=True)
    db = folder / "kiosk.db"
    code, stdout, _err = run_cli("import", str(data_dir / "lfw_people" / "known"), "--max-photos", str(ENROL_PHOTOS),
                                 "--consent", "--by", "19800101", "--config", str(config), "--db", str(db),
                                 "--report", str(folder / "report.csv"), "--quiet")
    with (folder / "report.csv").open() as handle:
        report = list(csv.DictReader(handle))
    store = Store(db)
    store.wipe()
    store.close()
    return Imported(db, folder / "crops.key", config, code, stdout, report)


@pytest.fixture
def store_copy(imported: Imported, tmp_path: Path) -> Callable[[], Store]:
    """A fresh copy of the imported store (and its crop key) for one test."""
    def make() -> Store:
        target = tmp_path / "kiosk.db"
        shutil.copy(imported.db, target)
        shutil.copy(imported.key, tmp_path / "crops.key")
        return Store(target)
    return make


@pytest.fixture
def service(store_copy: Callable[[], Store], door_engine: FaceEngine, tmp_path: Path) -> EnrolmentService:
    """The enrolment service on a copy of the imported store, keeping crops (key in tmp_path)."""
    store = store_copy()
    config = EnrolConfig(keep_crops=True, key_file=tmp_path / "crops.key")
    yield EnrolmentService(store, door_engine, config)  # type: ignore[misc]
    store.close()


@pytest.fixture(scope="session")
def probes(known: dict[str, list[Path]], door_engine: FaceEngine) -> list[tuple[str, Path, np.ndarray]]:
    """(person, photo, embedding) of every photo not used for enrolment (8 per person), the centred
    face embedded whatever its quality, as a photo identification would."""
    photos = portrait_view(door_engine)
    found = []
    for person, paths in known.items():
        for path in paths[ENROL_PHOTOS:]:
            result = photos.embed_photo(read_image(path), check_quality=False)
            assert result.embedding is not None
            found.append((person, path, result.embedding))
    return found


def enrol_config(tmp_path: Path, **overrides: object) -> EnrolConfig:
    return replace(EnrolConfig(keep_crops=True, key_file=tmp_path / "crops.key"), **overrides)  # type: ignore[arg-type]


def door_frame(photo: Path, mirror: bool = False) -> np.ndarray:
    """A door-camera frame (640x480) of one real photo composed at about 1 m, as the demo scene does;
    ``mirror``: flipped left to right (which flips the sign of the head's measured yaw)."""
    scene = build([("person", [(photo, photo.parent.name)])], fps=10.0)
    frame = scene.frame(int((scene.actors[0].start + 1.8) * scene.fps))
    return np.ascontiguousarray(frame[:, ::-1]) if mirror else frame


def photo_of(known: dict[str, list[Path]], person: str, number: int) -> Path:
    """lfw_people's photo ``<person>_<number:04d>.jpg``."""
    return next(p for p in known[person] if p.name == f"{person}_{number:04d}.jpg")


def door_frames(known: dict[str, list[Path]], person: str, engine: FaceEngine) -> list[np.ndarray]:
    """Door-camera frames (``door_frame``) of each of ``person``'s photos whose face passes the
    quality gate there."""
    frames = []
    for photo in known[person]:
        frame = door_frame(photo)
        results = engine.analyse(frame, embed="none")
        if results and results[0].quality.ok:
            frames.append(frame)
    return frames


class ScriptedCamera:
    """A live camera that shows whatever frame the test puts in front of it, at 12 frames a second."""

    live = True
    fps = 12.0
    name = "scripted"
    composed = True  # it shows photos composed into door frames: liveness is off (tests/kiosk/test_liveness.py)

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame
        self._lock = threading.Lock()
        self._due = 0.0

    def show(self, frame: np.ndarray) -> None:
        with self._lock:
            self.frame = frame

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        now = time.monotonic()
        if now < self._due:
            time.sleep(self._due - now)
        self._due = max(now, self._due) + 1.0 / self.fps
        with self._lock:
            return self.frame

    def close(self) -> None:
        pass


class SnapshotReader:
    """Another thread reading the store as the kiosk's recognition loop does (the gallery version,
    then the templates), each time inside a read transaction held for ``hold_s``: most of the time it
    holds a snapshot older than the latest commit. ``hold()`` keeps the current snapshot until
    ``release()``."""

    def __init__(self, store: Store, model_id: str, hold_s: float = 0.2) -> None:
        self.store, self.model_id, self.hold_s = store, model_id, hold_s
        self.reads = 0
        self.seen: set[str] = set()  # the people in its latest snapshot
        self._stop, self._free, self._parked = threading.Event(), threading.Event(), threading.Event()
        self._free.set()
        self._thread = threading.Thread(target=self._run, name="reader", daemon=True)

    def __enter__(self) -> SnapshotReader:
        self._thread.start()
        deadline = time.monotonic() + 10
        while self.reads < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.reads >= 1, "the reader never read"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._free.set()
        self._thread.join(10)

    def hold(self) -> None:
        """Keep a snapshot taken before this returns until ``release``."""
        self._free.clear()
        assert self._parked.wait(10), "the reader did not stop in a snapshot"

    def release(self) -> None:
        self._parked.clear()
        self._free.set()

    def _run(self) -> None:
        conn = self.store.db.conn  # this thread's own connection, as the loop thread has
        while not self._stop.is_set():
            conn.execute("BEGIN")
            self.store.gallery_version()
            self.seen = set(self.store.templates(self.model_id))
            self.reads += 1
            if not self._free.is_set():
                self._parked.set()
                self._free.wait(60)
            time.sleep(self.hold_s)
            conn.execute("COMMIT")
            time.sleep(0.005)
