"""The technician screen shows the sync state, under Xvfb against a real server on loopback: a
technician signs in on the keypad, sees the kiosk "not provisioned", types the server's provisioning
code into the screen (as a USB keyboard or barcode scanner would), sees it connect, then the admin
revokes the device and the screen says "device not authorised (revoked)" in both languages while the
door keeps recording. Screenshots go to tests/artifacts/sync/."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from kiosk.pin import hash_pin
from models.engine import FaceEngine
from tests.kiosk.conftest import xvfb  # noqa: F401  (the virtual display fixture)
from tests.kiosk.test_screen import Driver
from tests.sync.conftest import ROOT, LiveServer, ShownSource, write_config

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

TECHNICIAN = ("19800101", "Budi", "2468")


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> FaceEngine:
    return FaceEngine(device_config.load(ROOT / "config.toml").engine)


@pytest.fixture
def screen(xvfb: str, engine: FaceEngine, artifacts: Path,  # noqa: F811
           tmp_path: Path) -> Iterator[tuple[Driver, Kiosk]]:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (make system installs it)")
    from kiosk.screen.app import DoorScreen

    store = Store(tmp_path / "kiosk.db")
    number, name, pin = TECHNICIAN
    store.upsert_person(number, name, ("technician",), hash_pin(pin))
    sync_file = write_config(tmp_path / "config.toml", store.path, interval_s=0.2, pull_interval_s=0.5,
                             backoff_s=(0.05, 0.5))
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, path=sync_file, http=replace(config.http, enabled=False))
    kiosk = Kiosk(config, source=ShownSource(), engine=engine, store=store)
    app = DoorScreen(kiosk)
    kiosk.start()
    shots = artifacts / "sync"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Driver(app, xvfb, shots), kiosk
    finally:
        kiosk.stop()
        app.destroy()


def sync_line(app: Any) -> str:
    return str(app.tech_panel.lines["sync"].cget("text"))


def test_the_technician_screen_shows_provisioning_connection_and_revocation(
        screen: tuple[Driver, Kiosk], live_server: LiveServer) -> None:
    driver, kiosk = screen
    app = driver.app
    device = live_server.call("POST", "/devices", 201, json={"name": "door", "room": "LAB-1",
                                                             "model_id": kiosk.engine.model_id})
    driver.pump(lambda: app.shown_view in ("idle", "looking"), what="start")
    driver.click(app.tech_button)
    number, _name, pin = TECHNICIAN
    driver.type_digits(number)
    driver.click(app.keypad.buttons["ok"])
    driver.type_digits(pin)
    driver.click(app.keypad.buttons["ok"])
    driver.pump(lambda: app.shown_view == "technician", what="technician mode")
    assert kiosk.technician == number, "the screen tells the kiosk who is signed in"
    assert sync_line(app) == "Sinkron: belum diprovisikan — tunjukkan kode QR server ke kamera"
    driver.shot("1-unprovisioned")

    # The provisioning code typed into the screen's field (a keyboard or a barcode scanner), then saved.
    driver.click(app.tech_panel.code)
    subprocess.run(["xdotool", "type", "--delay", "2", device["qr_payload"]], check=True, timeout=60,
                   env={"DISPLAY": driver.display, "PATH": "/usr/bin:/bin"})
    driver.pump(lambda: app.tech_panel.code.get() == device["qr_payload"], what="the code typed in")
    driver.click(app.tech_panel.save)
    driver.pump(lambda: sync_line(app) == "Sinkron: tersambung ke server", what="connected")
    assert app.tech_panel.code.get() == "" and app.tech_panel.note.cget("text") == "", "the state says it now"
    assert kiosk.health()["sync"]["device_id"] == device["device"]["id"]
    assert "belum pernah" not in app.tech_panel.lines["sync_last"].cget("text")
    driver.shot("2-connected")

    # Revoked on the server: only the sync state changes, and the screen follows it.
    live_server.call("POST", f"/devices/{device['device']['id']}:revoke")
    driver.pump(lambda: "dicabut" in sync_line(app), what="revoked")
    assert sync_line(app) == "Sinkron: perangkat tidak diizinkan (dicabut di server) — provisikan ulang"
    assert "revoked" in app.tech_panel.lines["sync_detail"].cget("text")
    written = kiosk.presence.accept_fallback(number, "pin").event
    assert written is not None, "the door keeps recording"
    driver.pump(lambda: app.tech_panel.lines["outbox"].cget("text").endswith(": 1 kejadian"), what="outbox 1")
    driver.shot("3-revoked")
    # The old code again: the server refuses it (a revoked device takes no code), and the screen says why.
    app.tech_panel.code.insert(0, device["qr_payload"])
    driver.click(app.tech_panel.save)
    driver.pump(lambda: "refused the provisioning code" in app.tech_panel.lines["sync_detail"].cget("text"),
                what="code refused")
    assert "register a new device" in app.tech_panel.lines["sync_detail"].cget("text")
    assert "dicabut" in sync_line(app), "still revoked: a refused code changes nothing"
    driver.click(app.lang_button)
    driver.pump(lambda: sync_line(app) == "Sync: device not authorised (revoked on the server) — provision it again",
                what="English")
    driver.shot("4-revoked-en")

    # A pasted code that is not one is refused on the screen, and nothing is kept.
    app.tech_panel.code.insert(0, "LG1.not-a-provisioning-code")
    driver.click(app.tech_panel.save)
    assert "Code refused: not a provisioning payload" in app.tech_panel.note.cget("text")
    driver.click(app.tech_panel.exit)
    driver.pump(lambda: app.shown_view != "technician", what="technician exit")
    assert kiosk.technician is None
    assert kiosk.provision(device["qr_payload"], "camera")[0] is False, "no technician, no provisioning"
    assert kiosk.store.outbox_size() == 1
