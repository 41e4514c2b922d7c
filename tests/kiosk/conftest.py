"""Fixtures for the kiosk's tests: a kiosk face engine, a device store with the demo people enrolled
(real photos), composed door scenes, an Ed25519 key pair and tokens made per the contract, a virtual
X display. Only the camera hardware is faked (scripted sources)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from device import config as device_config
from device.store import Store
from kiosk.frames import EndOfStream, SourceError
from kiosk.scene import Scene, build
from models.datasets import image_files, people
from models.decision import Outcome
from models.engine import FaceEngine, primary_index
from models.images import read_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def kiosk_engine(model_dir: Path) -> FaceEngine:
    """The engine as the kiosk builds it from config.toml (nearest face first)."""
    return FaceEngine(device_config.load(ROOT / "config.toml").engine)


@pytest.fixture(scope="session")
def enrolled_db(tmp_path_factory: pytest.TempPathFactory, kiosk_engine: FaceEngine, data_dir: Path) -> Path:
    """A device store with the 25 lfw_people/known people enrolled from their first 4 photos."""
    from kiosk.demo import enrol_demo

    path = tmp_path_factory.mktemp("enrolled") / "kiosk.db"
    store = Store(path)
    assert enrol_demo(store, kiosk_engine, data_dir) == 25
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


@pytest.fixture
def store_path(enrolled_db: Path, tmp_path: Path) -> Path:
    """A fresh copy of the enrolled store for one test."""
    path = tmp_path / "kiosk.db"
    shutil.copy(enrolled_db, path)
    return path


@pytest.fixture(scope="session")
def walk_up_photos(kiosk_engine: FaceEngine, data_dir: Path) -> dict[str, Path]:
    """For each known person, a photo not used for enrolment that shows one person (it passes the
    quality gate, so no bystander stands beside them) and that the engine accepts as them on its own.
    (The loop is under test here, not the model's accuracy, which tests/models measures.)"""
    known = people(data_dir / "lfw_people" / "known")
    gallery = kiosk_engine.new_gallery()
    for person, photos in known.items():
        gallery.add(person, np.stack([_embed(kiosk_engine, p) for p in photos[:4]]), kiosk_engine.model_id)
    chosen = {}
    for person, photos in known.items():
        for photo in photos[4:]:
            results = kiosk_engine.analyse(read_image(photo))
            if not results or not results[0].quality.ok or results[0].embedding is None:
                continue
            decision = kiosk_engine.identify(results[0].embedding, gallery)
            if decision.outcome is Outcome.ACCEPT and decision.person == person:
                chosen[person] = photo
                break
    return chosen


def _embed(engine: FaceEngine, photo: Path) -> np.ndarray:
    rgb = read_image(photo)
    faces = engine.detector.detect(rgb)
    return engine.embedder.embed_faces(rgb, [faces[primary_index(faces, rgb.shape, "centre")]])[0]


@pytest.fixture(scope="session")
def strangers(data_dir: Path) -> list[Path]:
    return image_files(data_dir / "lfw_people" / "unknown")


def make_scene(plan: list[tuple[str, list[tuple[Path, str | None]]]], fps: float = 12.0, tail: float = 1.5) -> Scene:
    return build(plan, fps=fps, tail=tail)


# -- the server's QR key and tokens, made here per the contract ---------------------------------------
class TokenMaker:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_b64 = base64.b64encode(raw).decode()

    def token(self, number: str, lifetime: int = 300, issued: float | None = None, jti: str | None = None,
              key: Ed25519PrivateKey | None = None, **extra: Any) -> str:
        iat = int(time.time() if issued is None else issued)
        payload = json.dumps({"number": number, "iat": iat, "exp": iat + lifetime, "jti": jti or str(uuid.uuid4()),
                              **extra}).encode()
        signature = (key or self.key).sign(payload)
        return f"LG1.{_b64url(payload)}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def tokens() -> TokenMaker:
    return TokenMaker()


# -- a camera that fails and comes back (scripted hardware) ----------------------------------------
class FlakySource:
    """Wraps a source; while ``failing`` is set, read() and open() raise as an unplugged camera does.
    ``bad`` frames (not images) can be queued to check that they are dropped."""

    live = True

    def __init__(self, inner: Any, fps: float | None = None) -> None:
        self.inner = inner
        self.fps = fps or inner.fps
        self.composed = getattr(inner, "composed", False)
        self.name = f"flaky:{inner.name}"
        self.failing = threading.Event()
        self.bad: list[Any] = []
        self.opens = 0
        self._due = 0.0

    def open(self) -> None:
        self.opens += 1
        if self.failing.is_set():
            raise SourceError("camera unplugged (scripted)")
        self.inner.open()

    def read(self) -> Any:
        if self.failing.is_set():
            raise SourceError("camera stopped giving frames (scripted)")
        now = time.monotonic()
        if now < self._due:  # a live camera delivers at its own rate
            time.sleep(self._due - now)
        self._due = max(now, self._due) + 1.0 / self.fps
        if self.bad:
            return self.bad.pop(0)
        try:
            return self.inner.read()
        except EndOfStream:
            self.inner.index = 0
            return self.inner.read()

    def close(self) -> None:
        self.inner.close()


# -- a virtual screen ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """Xvfb on a free display number; DISPLAY is set for the session's GUI tests and restored after."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (make system installs it)")
    display = _free_display()
    process = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x600x24", "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket_path = Path(f"/tmp/.X11-unix/X{display[1:]}")
    deadline = time.monotonic() + 10
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Xvfb {display} did not start")
        time.sleep(0.05)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        yield display
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old


def _free_display() -> str:
    for number in range(90 + os.getpid() % 50, 400):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return f":{number}"
    raise RuntimeError("no free X display number")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
