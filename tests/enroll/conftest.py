"""Fixtures for the enrolment tests: the kiosk's face engine, a device store with lfw_people/known
imported through `labgate-enroll import` (real photos, first four of each person), the other photos'
embeddings as probes, and an enrolment service on a copy of that store. Nothing is faked but the
camera (a scripted source of real photos, for the screen)."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from enroll import cli
from enroll.config import EnrolConfig
from enroll.service import EnrolmentService, portrait_view
from kiosk import config as kiosk_config
from kiosk.scene import build
from kiosk.store import Store
from models.datasets import people
from models.engine import FaceEngine
from models.images import read_image
from tests.kiosk.conftest import xvfb  # noqa: F401  (the virtual screen, shared with the kiosk's GUI tests)

ROOT = Path(__file__).resolve().parents[2]
ENROL_PHOTOS = 4  # acceptance 1: enrol from the first four photos of each person


@pytest.fixture(scope="session")
def door_engine(model_dir: Path) -> FaceEngine:
    """The engine as the kiosk builds it from config.toml (the door picks the nearest face)."""
    return FaceEngine(kiosk_config.load(ROOT / "config.toml").engine)


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


def door_frames(known: dict[str, list[Path]], person: str, engine: FaceEngine) -> list[np.ndarray]:
    """Door-camera frames (640x480, one real photo of ``person`` composed at about 1 m, as the demo
    scene does) of each of their photos whose face passes the quality gate there."""
    frames = []
    for photo in known[person]:
        scene = build([("person", [(photo, person)])], fps=10.0)
        frame = scene.frame(int((scene.actors[0].start + 1.8) * scene.fps))
        results = engine.analyse(frame, embed="none")
        if results and results[0].quality.ok:
            frames.append(frame)
    return frames
