"""Sync as a thread of the running kiosk (kiosk/kiosk.py): a provisioning QR code shown to the camera
is taken only in technician mode (the screen tells the kiosk who is signed in); then the thread
exchanges the code, syncs on its own, a new event is pushed at once (the event wakes it), the health
the technician screen reads shows the sync state, and a person erased on the server leaves the
recognition loop's gallery. The clock offset sync measures reaches the kiosk's events."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from models.engine import FaceEngine
from sync.provisioning import provision
from tests.sync.conftest import ROOT, LiveServer, ShownSource, credentials_for, write_config
from tests.sync.proxy import Proxy
from tests.sync.test_acceptance import _template, server_events, wait_for

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> FaceEngine:
    return FaceEngine(device_config.load(ROOT / "config.toml").engine)


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
    config = device_config.load(ROOT / "config.toml")
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
        kiosk.technician = "19800101"  # what the screen sets on a technician's sign-in
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


def test_the_clock_offset_sync_measures_flags_the_kiosks_events_beyond_the_configured_limit(
        live_server: LiveServer, engine: FaceEngine, tmp_path: Path) -> None:
    proxy = Proxy(("127.0.0.1", live_server.port), shift_s=600.0)  # the server's clock is 10 minutes ahead
    device = live_server.register_device()
    store = Store(tmp_path / "kiosk.db")
    sync_file = write_config(tmp_path / "config.toml", store.path, interval_s=0.2, pull_interval_s=0.5,
                             backoff_s=(0.05, 0.5), clock_suspect_s=120.0)
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, path=sync_file, http=replace(config.http, enabled=False))
    kiosk = Kiosk(config, source=ShownSource(), engine=engine, store=store)
    try:
        assert kiosk.presence.clock_suspect_s == 120.0, "[sync] clock_suspect_s reaches the kiosk's presence"
        before = kiosk.presence.accept_fallback("2201000021", "pin").event
        assert before is not None and not before.clock_suspect, "no offset measured yet: nothing to suspect"
        kiosk.start()
        provision(store, kiosk.sync_config, credentials_for(proxy.url, device), "test")
        wait_for(lambda: kiosk.health()["sync"]["clock_offset_s"] is not None and store.outbox_size() == 0, 20,
                 "sync to measure the clock and push")
        assert 598 <= kiosk.health()["sync"]["clock_offset_s"] <= 602
        after = kiosk.presence.accept_fallback("2201000022", "pin").event
        assert after is not None and after.clock_suspect, "10 minutes off is beyond the 2 configured"
    finally:
        kiosk.stop()
        proxy.close()
