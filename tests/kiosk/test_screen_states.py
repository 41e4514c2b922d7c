"""The door screen's other states under Xvfb, on scripted sources of real faces: offline (a
provisioned kiosk that has not reached its server for a long time), "one at a time, please" (two
people at the door together) and look again (a face in the grey zone). Screenshots go to
tests/artifacts/kiosk/."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from kiosk.scene import Actor, Key, Scene, SceneSource
from kiosk.strings import text
from models.engine import FaceEngine
from models.runtime import Thresholds
from tests.kiosk.conftest import ROOT, make_scene
from tests.kiosk.test_screen import Driver

pytestmark = pytest.mark.data

Opened = tuple[Driver, Kiosk]


@pytest.fixture
def open_screen(xvfb: str, store_path: Path, artifacts: Path) -> Iterator[Callable[..., Opened]]:
    """Start the real kiosk and its door screen on ``scene`` (with ``engine``); stopped after the test."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (make system installs it)")
    from kiosk.screen.app import DoorScreen

    opened: list[tuple[Kiosk, Any]] = []
    shots = artifacts / "kiosk"
    shots.mkdir(parents=True, exist_ok=True)

    def start(scene: Scene, engine: FaceEngine, prepare: Callable[[Store], None] = lambda _store: None) -> Opened:
        store = Store(store_path)
        prepare(store)
        config = device_config.load(ROOT / "config.toml")
        config = replace(config, http=replace(config.http, enabled=False))
        kiosk = Kiosk(config, source=SceneSource(scene, loop=True), engine=engine, store=store)
        app = DoorScreen(kiosk)
        kiosk.start()
        opened.append((kiosk, app))
        return Driver(app, xvfb, shots), kiosk

    yield start
    for kiosk, app in opened:
        kiosk.stop()
        app.destroy()


def _later(scene: Scene, seconds: float) -> Scene:
    """The same walk-ups, after ``seconds`` of an empty door."""
    actors = [replace(a, start=a.start + seconds) for a in scene.actors]
    walkups = [replace(w, start=w.start + seconds, end=w.end + seconds) for w in scene.walkups]
    return Scene(actors, walkups, scene.fps, scene.size, tail=60.0)


def test_offline_then_one_at_a_time_on_the_door_screen(open_screen: Callable[..., Opened], kiosk_engine: FaceEngine,
                                                       walk_up_photos: dict[str, Path]) -> None:
    names = sorted(walk_up_photos)
    pair = make_scene([("pair", [(walk_up_photos[names[1]], names[1]), (walk_up_photos[names[2]], names[2])])])

    def provisioned_long_ago(store: Store) -> None:  # as sync leaves it: a server, last reached in 2020
        store.set_sync_value("server", "https://lab.example.ac.id")
        store.set_sync_value("last_sync_at", "2020-01-06T07:00:00.000Z")

    driver, _kiosk = open_screen(_later(pair, 5.0), kiosk_engine, provisioned_long_ago)
    app = driver.app
    driver.pump(lambda: app.shown_view == "offline", what="offline")
    driver.pump(lambda: app.preview.shown_index > 3, what="the empty door in the preview")
    assert app.preview.label.winfo_ismapped() and app.preview.label.winfo_width() > 300
    assert app.title_label.cget("text") == text("offline.title", "id")
    assert app.subtitle_label.cget("text") == text("offline.subtitle", "id")
    assert app.offline_badge.cget("text") == "OFFLINE"
    assert app.pin_button.cget("state") == "normal", "the keypad works offline"
    driver.shot("7-offline")

    driver.pump(lambda: app.shown_view in ("looking", "look_again")
                and app.subtitle_label.cget("text") == text("prompt.one_at_a_time", "id"),
                what="one at a time", timeout=40)
    assert app.subtitle_label.cget("text") == "Satu per satu, ya"
    assert app.offline_badge.cget("text") == "OFFLINE", "the badge stays while people are at the door"
    driver.pump(lambda: app.preview.boxes_drawn == 2, what="both faces boxed in the preview")
    driver.shot("8-one-at-a-time")
    driver.click(app.lang_button)
    driver.pump(lambda: app.lang == "en", what="English")
    driver.pump(lambda: app.subtitle_label.cget("text") == "One at a time, please" or app.shown_view != "looking",
                what="one at a time in English")


def test_look_again_on_the_door_screen(open_screen: Callable[..., Opened], kiosk_engine: FaceEngine,
                                       walk_up_photos: dict[str, Path]) -> None:
    # [decision] in config.toml can override the calibrated thresholds; here the accept threshold is out
    # of reach, so an enrolled face scores in the grey zone between τ_unknown and τ_accept.
    grey = Thresholds(accept=0.999, unknown=0.05, margin=0.0, calibrated_on="test: grey zone")
    engine = FaceEngine(replace(kiosk_engine.settings, thresholds=grey))
    person = sorted(walk_up_photos)[6]
    standing = Actor(walk_up_photos[person], person, 0.0, (
        Key(0.0, 0.2, 0.45, 70.0), Key(0.8, 0.5, 0.42, 112.0), Key(30.0, 0.5, 0.42, 112.0)))
    driver, kiosk = open_screen(_later(Scene([standing], [], fps=12.0), 1.0), engine)
    app = driver.app
    driver.pump(lambda: app.shown_view == "look_again", what="look again", timeout=40)
    assert app.title_label.cget("text") == text("look_again.title", "id")
    assert app.subtitle_label.cget("text") == text("look_again.subtitle", "id")
    assert app.pin_button.cget("state") == "normal", "the fallback is offered while the face stays unsure"
    driver.shot("9-look-again")
    assert [e for e in kiosk.store.events_after(0) if e.outcome == "accept"] == [], "grey is never an accept"
