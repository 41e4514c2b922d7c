"""Acceptance 3: the door screen under Xvfb on a scripted source of real faces: recognised, not
recognised, the NIM + PIN fallback on the keypad (clicked with xdotool, as a finger would), camera
lost, technician mode and the language switch. Screenshots go to tests/artifacts/kiosk/."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from kiosk.pin import hash_pin
from kiosk.scene import SceneSource
from models.engine import FaceEngine
from tests.kiosk.conftest import ROOT, FlakySource, make_scene

pytestmark = pytest.mark.data

STUDENT = ("2201234567", "Siti Rahma", "4321")
TECHNICIAN = ("19800101", "2468")  # enrolled by kiosk.demo


class Driver:
    def __init__(self, app: Any, display: str, shots: Path) -> None:
        self.app, self.display, self.shots = app, display, shots

    def pump(self, until: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.app.update()
            if until():
                return
            time.sleep(0.02)
        self.shot(f"timeout-{what or 'wait'}")
        raise AssertionError(f"screen never reached: {what} (showing {self.app.shown_view!r}: "
                             f"{self.app.title_label.cget('text')!r})")

    def click(self, widget: Any) -> None:
        """A real pointer click at the widget's centre, through the X server."""
        self.app.update()
        x = widget.winfo_rootx() + widget.winfo_width() // 2
        y = widget.winfo_rooty() + widget.winfo_height() // 2
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "sleep", "0.05", "click", "1"], check=True,
                       env={"DISPLAY": self.display, "PATH": "/usr/bin:/bin"}, timeout=10)
        for _ in range(5):
            self.app.update()
            time.sleep(0.02)

    def type_digits(self, digits: str) -> None:
        for digit in digits:
            self.click(self.app.keypad.buttons[digit])

    def shot(self, name: str) -> Path:
        from PIL import ImageGrab

        self.app.update()
        path = self.shots / f"{name}.png"
        ImageGrab.grab(xdisplay=self.display).save(path)
        return path


@pytest.fixture
def screen(xvfb: str, store_path: Path, kiosk_engine: FaceEngine, walk_up_photos: dict[str, Path],
           strangers: list[Path], artifacts: Path):  # type: ignore[no-untyped-def]
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (make system installs it)")
    from kiosk.screen.app import DoorScreen

    store = Store(store_path)
    number, name, pin = STUDENT
    store.upsert_person(number, name, ("student",), hash_pin(pin))
    store.db.conn.execute("INSERT INTO bookings (id, room, title, holder, starts_at, ends_at) "
                          "VALUES ('b1', 'LAB-1', 'Praktikum Basis Data', 'Dr. Ani', ?, ?)",
                          ("2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z"))
    store.db.conn.commit()
    person = sorted(walk_up_photos)[4]
    scene = make_scene([("person", [(walk_up_photos[person], person)]), ("stranger", [(strangers[3], None)])],
                       tail=120.0)
    source = FlakySource(SceneSource(scene), fps=12.0)
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, http=replace(config.http, enabled=False),
                     camera=replace(config.camera, frame_timeout_s=1.0, backoff_s=(0.2, 0.5)),
                     kiosk=replace(config.kiosk, greet_s=3.0))
    kiosk = Kiosk(config, source=source, engine=kiosk_engine, store=store)
    app = DoorScreen(kiosk)
    kiosk.start()
    shots = artifacts / "kiosk"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Driver(app, xvfb, shots), kiosk, source, person.replace("_", " ")
    finally:
        kiosk.stop()
        app.destroy()


def test_door_screen_recognised_unknown_and_pin_fallback(screen) -> None:  # type: ignore[no-untyped-def]
    driver, kiosk, source, name = screen
    app = driver.app
    driver.pump(lambda: app.shown_view in ("idle", "looking"), what="start")
    assert app.winfo_width() == 1024 and app.winfo_height() == 600, "full screen on the 1024x600 display"

    driver.pump(lambda: app.shown_view == "recognised", what="recognised")
    assert app.title_label.cget("text") == f"Selamat datang, {name}"
    assert "Praktikum Basis Data" in app.detail_label.cget("text")
    driver.pump(lambda: app.preview.boxes_drawn >= 1, what="a face box in the preview")
    driver.shot("1-recognised")

    driver.pump(lambda: app.shown_view == "unknown", what="unknown")
    assert app.title_label.cget("text") == "Wajah tidak dikenali"
    assert app.pin_button.cget("state") == "normal"
    driver.shot("2-unknown")

    # The fallback: tap "Pakai NIM + PIN", type the NIM, OK, a wrong PIN, then the right one.
    driver.click(app.pin_button)
    driver.pump(lambda: app.shown_view == "fallback", what="keypad")
    number, student_name, pin = STUDENT
    driver.type_digits(number)
    driver.click(app.keypad.buttons["ok"])
    assert app.keypad.number == number and app.keypad.active == "pin"
    driver.type_digits("9999")
    assert app.keypad.pin_label.cget("text").endswith("●●●●")
    driver.click(app.keypad.buttons["ok"])
    assert "salah" in app.keypad.message.cget("text") and "2" in app.keypad.message.cget("text")
    driver.shot("3-pin-wrong")
    driver.type_digits(pin)
    driver.click(app.keypad.buttons["ok"])
    driver.pump(lambda: app.shown_view == "recognised" and student_name in app.title_label.cget("text"),
                what="recognised by PIN")
    assert "NIM + PIN" in app.subtitle_label.cget("text")
    driver.shot("4-pin-accepted")
    events = kiosk.store.events_after(0)
    assert [(e.person, e.method) for e in events if e.method == "pin"] == [(number, "pin")]
    assert any(e.outcome == "unknown" and e.person is None for e in events)

    # The language switch.
    driver.click(app.lang_button)
    driver.pump(lambda: app.title_label.cget("text").startswith("Welcome") or app.shown_view != "recognised",
                what="English")
    assert app.lang == "en"

    # Camera lost, and back.
    source.failing.set()
    driver.pump(lambda: app.shown_view == "camera_lost", what="camera lost")
    assert app.title_label.cget("text") == "Camera lost"
    assert app.pin_button.cget("state") == "normal", "the keypad works without a camera"
    driver.shot("5-camera-lost")
    source.failing.clear()
    driver.pump(lambda: app.shown_view in ("idle", "looking"), what="camera back")
    assert all(kiosk.threads().values())


def test_technician_mode_behind_a_pin(screen) -> None:  # type: ignore[no-untyped-def]
    driver, kiosk, _source, _name = screen
    app = driver.app
    driver.pump(lambda: app.shown_view in ("idle", "looking", "recognised"), what="start")
    driver.click(app.tech_button)
    driver.pump(lambda: app.shown_view == "technician_login", what="technician keypad")
    number, pin = TECHNICIAN
    driver.type_digits(STUDENT[0])  # a student's number and PIN do not open technician mode
    driver.click(app.keypad.buttons["ok"])
    driver.type_digits(STUDENT[2])
    driver.click(app.keypad.buttons["ok"])
    assert app.shown_view == "technician_login" and app.keypad.message.cget("text")
    app.keypad.cancel()
    driver.click(app.tech_button)
    driver.type_digits(number)
    driver.click(app.keypad.buttons["ok"])
    driver.type_digits(pin)
    driver.click(app.keypad.buttons["ok"])
    driver.pump(lambda: app.shown_view == "technician", what="technician mode")
    assert kiosk.engine.model_id in app.tech_panel.lines["model"].cget("text")
    people = app.tech_panel.lines["people"].cget("text")  # the people with face templates, τ for them, false accepts
    assert ": 25 · τ 0." in people and "%" in people, people
    assert app.tech_panel.enrol.cget("state") == "disabled"
    driver.shot("6-technician")
    driver.click(app.tech_panel.exit)
    driver.pump(lambda: app.shown_view != "technician", what="technician exit")
    actions = [row["action"] for row in kiosk.store.audit_log()]
    assert "technician.login" in actions and "technician.logout" in actions
