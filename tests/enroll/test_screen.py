"""Acceptance 5: the technician's enrolment screen under Xvfb, clicked with xdotool as a finger would:
technician PIN, pick a person from the roster, consent, the pose guidance, a shot refused with its
reason, a repeated shot not counted, save; then the same face under another number is refused with
the person it collides with; and at the door the new person is recognised. The camera is a scripted
source showing real face photos. Screenshots go to tests/artifacts/enroll/."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from enroll.service import EnrolmentService
from kiosk import config as kiosk_config
from kiosk.kiosk import Kiosk
from kiosk.pin import hash_pin
from kiosk.store import Store
from models.engine import FaceEngine
from tests.enroll.conftest import ROOT, door_frames, enrol_config

pytestmark = pytest.mark.data

TECHNICIAN = ("19800101", "2468")
ROSTER = ("2201234567", "Siti Rahma")  # a student the server's roster sent, without a face yet
FACE = "Junichiro_Koizumi"  # whose real photos the scripted camera shows (erased from the store first)


class ScriptedCamera:
    """A live camera that shows whatever frame the test puts in front of it, at 12 frames a second."""

    live = True
    fps = 12.0
    name = "scripted"

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


class Driver:
    def __init__(self, app: Any, display: str, shots: Path, kiosk: Kiosk, camera: ScriptedCamera) -> None:
        self.app, self.display, self.shots, self.kiosk, self.camera = app, display, shots, kiosk, camera

    @property
    def panel(self) -> Any:
        return self.app.enrol_panel

    def pump(self, until: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.app.update()
            if until():
                return
            time.sleep(0.02)
        self.shot(f"timeout-{what or 'wait'}")
        raise AssertionError(f"screen never reached: {what} (showing {self.app.shown_view!r})")

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

    def show(self, frame: np.ndarray) -> None:
        """Put a frame in front of the camera and wait until the camera delivers it."""
        self.camera.show(frame)

        def delivered() -> bool:
            latest = self.kiosk.camera.latest()
            return latest is not None and np.array_equal(latest.rgb, frame)
        self.pump(delivered, what="the camera shows the frame")

    def take(self, frame: np.ndarray) -> str:
        self.show(frame)
        self.click(self.panel.buttons["take"])
        return str(self.panel.shot_label.cget("text"))

    def shot(self, name: str) -> Path:
        from PIL import ImageGrab

        self.app.update()
        path = self.shots / f"{name}.png"
        ImageGrab.grab(xdisplay=self.display).save(path)
        return path


@pytest.fixture
def screen(xvfb: str, store_copy: Callable[[], Store], door_engine: FaceEngine, known: dict[str, list[Path]],
           artifacts: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (make system installs it)")
    from kiosk.screen.app import DoorScreen
    from kiosk.screen.enrol import entry

    store = store_copy()
    number, pin = TECHNICIAN
    store.upsert_person(number, "Budi Teknisi", ("technician",), hash_pin(pin))
    store.upsert_person(ROSTER[0], ROSTER[1], ("student",))
    store.erase_person(FACE, "test")  # their face is new to this kiosk
    frames = door_frames(known, FACE, door_engine)
    assert len(frames) >= 7, "enough real photos of the person pass at the door"
    wall = np.full_like(frames[0], 128)
    camera = ScriptedCamera(wall)
    config = kiosk_config.load(ROOT / "config.toml")
    config = replace(config, http=replace(config.http, enabled=False), kiosk=replace(config.kiosk, greet_s=3.0))
    kiosk = Kiosk(config, source=camera, engine=door_engine, store=store)
    service = EnrolmentService(store, door_engine, enrol_config(tmp_path))
    app = DoorScreen(kiosk, on_enrol=entry(service))
    kiosk.start()
    shots = artifacts / "enroll"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Driver(app, xvfb, shots, kiosk, camera), frames, wall
    finally:
        kiosk.stop()
        app.destroy()


def _technician_mode(driver: Driver) -> None:
    app = driver.app
    driver.click(app.tech_button)
    number, pin = TECHNICIAN
    for digit in number:
        driver.click(app.keypad.buttons[digit])
    driver.click(app.keypad.buttons["ok"])
    for digit in pin:
        driver.click(app.keypad.buttons[digit])
    driver.click(app.keypad.buttons["ok"])
    driver.pump(lambda: app.shown_view == "technician", what="technician mode")


def test_technician_enrols_a_person_at_the_door(screen) -> None:  # type: ignore[no-untyped-def]
    driver, frames, wall = screen
    app, kiosk = driver.app, driver.kiosk
    driver.pump(lambda: app.shown_view in ("idle", "looking"), what="start")

    # Technician mode: NIP and PIN on the keypad.
    number, _pin = TECHNICIAN
    _technician_mode(driver)
    assert app.tech_panel.enrol.cget("state") == "normal" and app.tech_panel.enrol.cget("text") == "Daftarkan wajah"
    driver.click(app.tech_panel.enrol)
    driver.pump(lambda: app.shown_view == "enrol", what="enrolment")
    panel = driver.panel
    seq_before = kiosk.store.last_seq()  # the door is paused: the person being enrolled is not logged

    # Who: type the start of the NIM, pick the person from the roster.
    for digit in "2201":
        driver.click(panel.buttons[digit])
    assert panel.roster and panel.roster[0].number == ROSTER[0]
    driver.click(panel.roster_rows[0])
    assert panel.number == ROSTER[0] and ROSTER[1] in panel.roster_rows[0].cget("text")
    driver.shot("1-who")
    driver.click(panel.buttons["next"])
    assert panel.step == "consent" and "versi 1" in panel.consent_label.cget("text")
    driver.shot("2-consent")
    driver.click(panel.buttons["consent"])
    assert panel.step == "capture"
    assert panel.guide_label.cget("text") == "Lihat lurus ke kamera"
    assert panel.buttons["save"].cget("state") == "disabled"
    driver.shot("3-guidance")

    # A blurred shot is refused with its reason; a good one counts; the same one again does not.
    message = driver.take(cv2.GaussianBlur(frames[0], (0, 0), 4))
    assert message.startswith("Foto ditolak") and "Diam sebentar" in message, message
    driver.shot("4-shot-refused-blurred")
    assert driver.take(frames[0]) == "Foto 1 diambil"
    assert panel.guide_label.cget("text") == "Toleh sedikit ke kiri"
    message = driver.take(frames[0])
    assert "hampir sama dengan foto 1" in message, message
    guides = []
    for i, frame in enumerate(frames[1:5], start=2):
        guides.append(panel.guide_label.cget("text"))
        assert driver.take(frame) == f"Foto {i} diambil"
    assert guides[:3] == ["Toleh sedikit ke kiri", "Toleh sedikit ke kanan", "Angkat dagu sedikit"]
    assert panel.buttons["save"].cget("state") == "normal"
    driver.shot("5-five-shots")
    driver.click(panel.buttons["save"])
    assert panel.step == "result" and panel.outcome == "saved", panel.result_label.cget("text")
    assert panel.result_label.cget("text") == f"Tersimpan: {ROSTER[1]} ({ROSTER[0]}), 5 templat"
    driver.shot("6-saved")
    store = kiosk.store
    assert len(store.template_rows(kiosk.engine.model_id, ROSTER[0])) == 5
    assert len(store.kept_crops(ROSTER[0])) == 5
    record = store.person_record(ROSTER[0])
    assert record is not None and record["consent_by"] == number and record["consent_policy"] == "1"
    actions = {(row["actor"], row["action"]) for row in store.audit_log(200)}
    for action in ("technician.login", "enrol.start", "enrol.consent", "enrol.save"):
        assert (number, action) in actions, action

    # The same face under another number: the technician sees whom it collides with; nothing saved.
    driver.click(panel.buttons["another"])
    for digit in "2201999999":
        driver.click(panel.buttons[digit])
    driver.click(panel.buttons["next"])
    driver.click(panel.buttons["consent"])
    for frame in frames[2:7]:
        driver.take(frame)
    driver.click(panel.buttons["save"])
    assert panel.outcome == "duplicate"
    assert f"sudah terdaftar sebagai {ROSTER[1]} ({ROSTER[0]})" in panel.result_label.cget("text")
    driver.shot("7-duplicate-refused")
    assert store.person_record("2201999999") is None
    assert store.last_seq() == seq_before, "the door recorded events while a technician was enrolling"
    driver.click(panel.buttons["done"])
    driver.pump(lambda: app.shown_view == "technician", what="back in technician mode")
    driver.click(app.tech_panel.exit)

    # At the door, the new face is now recognised as the person picked from the roster.
    driver.show(wall)
    time.sleep(1.5)  # the earlier track ends
    driver.show(frames[5])
    driver.pump(lambda: app.shown_view == "recognised", timeout=20, what="recognised at the door")
    assert app.title_label.cget("text") == f"Selamat datang, {ROSTER[1]}"
    driver.shot("8-recognised-at-the-door")

    # And erases them again from the same screen (two taps), audited under the technician.
    _technician_mode(driver)
    driver.click(app.tech_panel.enrol)
    driver.pump(lambda: app.shown_view == "enrol", what="enrolment again")
    for digit in ROSTER[0]:
        driver.click(panel.buttons[digit])
    assert panel.buttons["remove"].cget("state") == "normal"
    driver.click(panel.buttons["remove"])
    assert store.person_record(ROSTER[0]) is not None, "one tap only arms it"
    driver.click(panel.buttons["remove"])
    assert panel.step == "result" and panel.outcome == "removed"
    driver.shot("9-erased")
    assert store.person_record(ROSTER[0]) is None and not store.kept_crops(ROSTER[0])
    assert any(row["action"] == "person.erase" and row["actor"] == number for row in store.audit_log())
