"""The kiosk decides for the gallery it holds: as sync grows the gallery from 25 to 600 people, the
τ_accept the recognition loop uses rises with it (chosen from the model's calibration data for the
gallery's size), is logged, and /health and the technician screen's health show it with the expected
share of strangers accepted per walk-up."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import requests

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from models.engine import FaceEngine
from server.core.clock import utcnow
from server.core.database import Database
from server.faces.tables import Template
from server.feed import journal
from sync.provisioning import provision
from tests.sync.conftest import ROOT, LiveServer, ShownSource, credentials_for, fast_config, write_config
from tests.sync.test_acceptance import wait_for

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

SIZES = (25, 100, 300, 600)


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> FaceEngine:
    return FaceEngine(device_config.load(ROOT / "config.toml").engine)


def enrol_on_server(api: LiveServer, database_url: str, model_id: str, first: int, last: int,
                    rng: np.random.Generator) -> None:
    """People ``first``..``last - 1`` made with the CSV import, each with one face template as the faces
    API stores it (random unit vectors: the threshold depends on how many people there are, not on
    who they are)."""
    rows = "".join(f"{2201000000 + i},Student {i}\n" for i in range(first, last))
    answer = requests.post(f"{api.base}/api/v1/people:import", headers=api.headers, timeout=60,
                           files={"file": ("people.csv", ("number,name\n" + rows).encode(), "text/csv")})
    assert answer.status_code == 200, answer.text
    ids = {}
    for offset in range(0, last, 500):
        page = api.call("GET", f"/people?limit=500&offset={offset}")
        ids.update({p["number"]: p["id"] for p in page["items"]})
    database = Database(database_url)
    try:
        with database.session() as session:
            for i in range(first, last):
                vector = rng.normal(size=512).astype(np.float32)
                row = Template(id=str(uuid.uuid4()), person_id=ids[str(2201000000 + i)], model_id=model_id,
                               vector=(vector / np.linalg.norm(vector)).astype("<f4").tobytes(), quality=0.99,
                               source="photo", photo_path=None, created_at=utcnow(), created_by=None)
                session.add(row)
                journal.note(session, "template", row.id)
            session.commit()
    finally:
        database.dispose()


def test_the_loops_threshold_follows_the_gallery_sync_grows_from_25_to_600_and_is_logged(
        live_server: LiveServer, server_db: str, engine: FaceEngine, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    assert engine.thresholds.impostor_tail, "the model's manifest carries no calibration data (impostor_tail)"
    api = live_server
    device = api.call("POST", "/devices", 201, json={"name": "door", "room": "LAB-1", "model_id": engine.model_id})
    store = Store(tmp_path / "kiosk.db")
    provision(store, fast_config(), credentials_for(api.base, device), "test")
    sync_file = write_config(tmp_path / "config.toml", store.path, interval_s=0.5, pull_interval_s=0.5,
                             backoff_s=(0.05, 0.5), batch_size=1000)
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, path=sync_file, http=replace(config.http, enabled=False))
    rng = np.random.default_rng(19)
    used: dict[int, float] = {}
    caplog.set_level(logging.INFO, logger="labgate.kiosk")
    kiosk = Kiosk(config, source=ShownSource(), engine=engine, store=store).start()
    try:
        held = 0
        for size in SIZES:
            enrol_on_server(api, server_db, engine.model_id, held, size, rng)
            held = size
            wait_for(lambda s=size: len(kiosk.loop.gallery) == s and kiosk.loop.thresholds.gallery_size == s, 60,
                     f"sync to bring the gallery to {size} people and the loop to choose τ for it")
            decision = kiosk.health()["decision"]
            expected = engine.thresholds_for(size)
            assert decision["gallery_people"] == size and decision["chosen_for_gallery"]
            assert decision["accept"] == kiosk.loop.thresholds.accept == expected.accept
            assert decision["expected_fpir"] == expected.expected_fpir
            assert decision["target_fpir"] == engine.settings.target_fpir
            used[size] = decision["accept"]
    finally:
        kiosk.stop()
        store.close()
    taus = [used[s] for s in SIZES]
    assert taus == sorted(taus) and taus[0] < taus[-1], f"τ_accept should rise with the gallery: {used}"
    assert used[600] > engine.thresholds.accept, "600 people need a stricter τ than the fixed per-comparison one"
    loaded = [r.getMessage() for r in caplog.records if "event=gallery_loaded" in r.getMessage()]
    for size in SIZES:
        assert any(f"people={size} " in m and f"accept={used[size]:.4f}".rstrip("0") in m for m in loaded), (
            f"no gallery_loaded line with people={size} accept={used[size]}: {loaded}")
