"""Sync as a thread of the running kiosk (kiosk/kiosk.py): a provisioning QR code shown to the camera
is taken only in technician mode; then the thread syncs on its own, a new event is pushed at once
(the event wakes it), the health the technician screen reads shows the sync state, and a person
erased on the server leaves the recognition loop's gallery."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk import config as kiosk_config
from kiosk.kiosk import Kiosk
from kiosk.store import Store
from models.engine import FaceEngine
from tests.sync.conftest import ROOT, LiveServer, write_config
from tests.sync.test_acceptance import _template, server_events, wait_for

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


class ShownSource:
    """A camera looking at a grey wall, or at whatever the test holds up (a QR code)."""

    name, live, fps = "shown", False, 10.0

    def __init__(self) -> None:
        self.frame = np.full((360, 480, 3), 128, np.uint8)

    def show(self, text: str | None) -> None:
        wall = np.full((360, 480, 3), 128, np.uint8)
        if text:
            code = cv2.QRCodeEncoder.create().encode(text)
            code = cv2.resize(code, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
            h, w = code.shape[:2]
            wall[40:40 + h, 40:40 + w] = np.repeat(code[:, :, None], 3, axis=2)
        self.frame = wall

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        return self.frame.copy()

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> FaceEngine:
    return FaceEngine(kiosk_config.load(ROOT / "config.toml").engine)


def test_the_kiosk_takes_a_provisioning_qr_in_technician_mode_and_syncs_in_its_thread(
        live_server: LiveServer, server_db: str, engine: FaceEngine, tmp_path: Path) -> None:
    api = live_server
    device = api.call("POST", "/devices", 201, json={"name": "door", "room": "LAB-1", "model_id": engine.model_id})
    device_id = device["device"]["id"]
    person = api.call("POST", "/people", 201, json={"number": "2201555555", "name": "Dewi"})
    vector = np.random.default_rng(3).normal(size=512).astype(np.float32)
    _template(server_db, person["id"], engine.model_id, vector / np.linalg.norm(vector))

    store = Store(tmp_path / "kiosk.db")
    sync_file = write_config(tmp_path / "config.toml", store.path, interval_s=30.0, pull_interval_s=0.5,
                             backoff_s=(0.05, 0.5))
    config = kiosk_config.load(ROOT / "config.toml")
    config = replace(config, path=sync_file, http=replace(config.http, enabled=False))
    source = ShownSource()
    kiosk = Kiosk(config, source=source, engine=engine, store=store).start()
    credentials = tmp_path / "kiosk.sync-credentials.json"
    try:
        assert kiosk.threads()["sync"] and kiosk.health()["sync"]["state"] == "unprovisioned"
        source.show(device["qr_payload"])  # nobody signed in as a technician
        time.sleep(1.5)
        assert not credentials.exists(), "a provisioning code is refused outside technician mode"

        rotated = api.call("POST", f"/devices/{device_id}:rotate-token")  # the first code was seen by a passer-by
        store.audit("19800101", "technician.login", name="Budi")  # what the screen writes on sign-in
        source.show(rotated["qr_payload"])
        wait_for(credentials.exists, 10, "the provisioning code to be read in technician mode")
        source.show(None)
        wait_for(lambda: kiosk.health()["sync"]["state"] == "ok" and len(kiosk.loop.gallery) == 1, 20,
                 "the sync thread to pull the gallery")
        health = kiosk.health()
        assert health["device_id"] == device_id and health["sync"]["server"] == api.base
        assert "2201555555" in {p for p in store.templates(engine.model_id)}

        event = kiosk.presence.accept_fallback("2201555555", "pin").event
        assert event is not None
        wait_for(lambda: any(e == event.id for _, e, _ in server_events(server_db, device_id)), 5,
                 "the new event to be pushed at once (interval_s is 30 s: the event woke sync)")

        api.call("DELETE", f"/people/{person['id']}")
        wait_for(lambda: len(kiosk.loop.gallery) == 0, 15, "the erased person to leave the loop's gallery")
        assert store.person("2201555555") is None
        acked = next(t for t in api.call("GET", "/tombstones") if t["number"] == "2201555555")
        wait_for(lambda: next(t for t in api.call("GET", "/tombstones")
                              if t["number"] == "2201555555")["devices_acknowledged"] == 1, 5, "the acknowledgement")
        assert acked["erased_at"]
        assert all(kiosk.threads().values()), kiosk.threads()
    finally:
        kiosk.stop()
    assert kiosk.sync is not None and not kiosk.sync.alive
