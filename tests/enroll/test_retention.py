"""Retention on a running kiosk: kept crops past [enrol] retention_days go without a restart (the
kiosk's retention thread, hourly; the hour shortened here, off the recognition loop's path), and with
keep_crops off the kiosk deletes every kept crop, the same rule the enrolment service applies."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from models.engine import FaceEngine
from tests.enroll.conftest import ScriptedCamera, write_config

pytestmark = pytest.mark.data


def _kiosk(store: Store, engine: FaceEngine, folder: Path, keep_crops: bool) -> Kiosk:
    config = device_config.load(write_config(folder, keep_crops=keep_crops))
    config = replace(config, http=replace(config.http, enabled=False))
    return Kiosk(config, source=ScriptedCamera(np.full((480, 640, 3), 128, np.uint8)), engine=engine, store=store)


def _crops(store: Store, person: str | None = None) -> int:
    if person is None:
        return int(store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0])
    return int(store.db.conn.execute("SELECT count(*) FROM crops WHERE person = ?", (person,)).fetchone()[0])


def _until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_a_running_kiosk_deletes_expired_crops_without_a_restart(store_copy: Callable[[], Store],
                                                                 door_engine: FaceEngine, tmp_path: Path) -> None:
    store = store_copy()
    total, henman = _crops(store), _crops(store, "Tim_Henman")
    assert henman > 0 and total > henman
    kiosk = _kiosk(store, door_engine, tmp_path, keep_crops=True)
    kiosk.retention.every_s = 0.3  # an hour on a real kiosk
    kiosk.start()
    try:
        _until(lambda: kiosk.retention.rounds >= 2, "two retention rounds")
        assert _crops(store) == total, "nothing had expired"
        store.db.conn.execute("UPDATE crops SET expires_at = '2000-01-01T00:00:00.000Z' WHERE person = 'Tim_Henman'")
        store.db.conn.commit()
        _until(lambda: _crops(store, "Tim_Henman") == 0, "Tim_Henman's expired crops deleted")
        assert _crops(store) == total - henman and kiosk.loop.alive
        assert any(row["action"] == "crops.purge" and row["actor"] == "system" for row in store.audit_log())
    finally:
        kiosk.stop()


def test_the_kiosk_deletes_every_kept_crop_when_keep_crops_is_off(store_copy: Callable[[], Store],
                                                                 door_engine: FaceEngine, tmp_path: Path) -> None:
    """The rule of the enrolment service at its start (test_erasure), applied by the kiosk itself."""
    store = store_copy()
    assert _crops(store) > 0
    kiosk = _kiosk(store, door_engine, tmp_path, keep_crops=False)
    kiosk.start()
    try:
        _until(lambda: _crops(store) == 0, "every kept crop deleted by the kiosk")
        assert any(row["action"] == "crops.purge" and '"everything": true' in row["detail"]
                   for row in store.audit_log())
    finally:
        kiosk.stop()
