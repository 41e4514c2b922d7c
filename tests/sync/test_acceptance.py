"""Issue 6's acceptance 1, 3, 4 and 5 against a real server process on loopback (acceptance 2, the
fault storm, is in test_faults.py): a backlog written while the server is down arrives once; an
erasure reaches the kiosk in one pull and its acknowledgement is visible on the server; a revoked
kiosk stops pushing, keeps recording and loses nothing when provisioned again; the server's pull
mode ingests a kiosk's backlog without duplicates when run twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np
from sqlalchemy import select

from device.store import Store
from kiosk.door import Door
from kiosk.http import StatusServer
from kiosk.metrics import Metrics
from kiosk.pin import verify_pin
from kiosk.presence import Presence
from server.core.clock import utcnow
from server.core.database import Database
from server.faces.tables import Template
from server.feed import journal
from server.presence.tables import Event
from sync import credentials as creds
from sync import state
from sync.credentials import parse_payload
from sync.provisioning import provision
from sync.runner import Sync
from tests.sync.conftest import (
    MODEL_ID,
    ROOT,
    SERVER_ENV,
    LiveServer,
    SyncProcess,
    credentials_for,
    fast_config,
    write_backlog,
    write_config,
)
from tests.sync.proxy import Proxy


def wait_for(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def server_events(database_url: str, device_id: str | None = None) -> list[tuple[str, str, int]]:
    """(device, event id, seq) of every stored event (of one device when given)."""
    database = Database(database_url)
    try:
        with database.session() as session:
            query = select(Event.device_id, Event.event_id, Event.seq)
            if device_id:
                query = query.where(Event.device_id == device_id)
            return [(d, e, s) for d, e, s in session.execute(query)]
    finally:
        database.dispose()


def through(payload: str, server: str) -> str:
    """The provisioning payload with another server URL (the tests' proxy in front of the server)."""
    found = parse_payload(payload)
    assert found.provisioning_token is not None
    return (f"labgate://provision?server={quote(server, safe='')}&device={quote(found.device_id, safe='')}"
            f"&token={quote(found.provisioning_token, safe='')}")


def all_ids(store: Store) -> list[str]:
    return [row[0] for row in store.db.conn.execute("SELECT id FROM events ORDER BY seq")]


def test_a_backlog_written_while_the_server_is_down_arrives_once(server_db: str, server_log: Path,
                                                                 tmp_path: Path) -> None:
    server = LiveServer(server_db, server_log).start()
    try:
        device = server.register_device()
    finally:
        server.stop()  # down from here on
    store = Store(tmp_path / "kiosk.db")
    config = write_config(tmp_path / "config.toml", store.path, batch_size=1000, interval_s=0.2, pull_interval_s=5.0,
                          timeout_s=10.0, backoff_s=(0.1, 1.0))
    provision(store, fast_config(), credentials_for(server.base, device), "test")
    runner = SyncProcess(config, tmp_path / "sync.log").start()
    try:
        write_backlog(store, 19_950)
        presence = Presence(store, Door(), Metrics())
        for i in range(50):  # and a few through the kiosk's own path, while sync is running
            assert presence.accept_fallback(f"2203{i:06d}", "pin").event is not None
        wait_for(lambda: store.sync_value("state") == "offline", 30, "sync to find the server down")
        assert store.outbox_size() == 20_000
        server.start()
        wait_for(lambda: store.outbox_size() == 0, 120, "the outbox to drain", step=0.25)
    finally:
        runner.stop()
        server.stop()
    stored = server_events(server_db, device["device"]["id"])
    ids = all_ids(store)
    assert len(ids) == 20_000
    assert len(stored) == 20_000 and {e for _, e, _ in stored} == set(ids), "each event once on the server"
    assert sorted(s for _, _, s in stored) == list(range(1, 20_001))
    assert state.status(store)["state"] == "ok"


def _template(database_url: str, person_id: str, model_id: str, vector: np.ndarray) -> str:
    """A face template as the faces API stores it (with its journal row), without a photo."""
    database = Database(database_url)
    try:
        with database.session() as session:
            row = Template(id=str(uuid.uuid4()), person_id=person_id, model_id=model_id,
                           vector=vector.astype("<f4").tobytes(), quality=0.99, source="photo", photo_path=None,
                           created_at=utcnow(), created_by=None)
            session.add(row)
            journal.note(session, "template", row.id)
            session.commit()
            return row.id
    finally:
        database.dispose()


def test_an_erased_person_leaves_the_kiosk_in_one_pull_and_the_ack_shows(live_server: LiveServer, server_db: str,
                                                                         tmp_path: Path) -> None:
    api = live_server
    device = api.register_device()
    person = api.call("POST", "/people", 201, json={"number": "2201234567", "name": "Siti", "roles": ["student"]})
    api.call("PUT", f"/people/{person['id']}/pin", 204, json={"pin": "482913"})
    rng = np.random.default_rng(7)
    vectors = [v / np.linalg.norm(v) for v in rng.normal(size=(2, 512)).astype(np.float32)]
    for vector in vectors:
        _template(server_db, person["id"], MODEL_ID, vector)
    _template(server_db, person["id"], "another-model", vectors[0])
    store = Store(tmp_path / "kiosk.db")
    store.upsert_person("2209999999", "Enrolled here")  # someone the server does not know: untouched
    config = fast_config()
    provision(store, config, credentials_for(api.base, device), "test")

    first = Sync(store, config).once()
    assert first.state == "ok", first.detail
    siti = store.person("2201234567")
    assert siti is not None and siti.name == "Siti" and siti.pin_hash and verify_pin("482913", siti.pin_hash)
    gallery = store.templates(MODEL_ID)
    assert set(gallery) == {"2201234567"} and gallery["2201234567"].shape == (2, 512)
    assert np.allclose(sorted(map(tuple, gallery["2201234567"])), sorted(map(tuple, vectors)))
    assert store.db.conn.execute("SELECT count(*) FROM templates WHERE model_id = 'another-model'").fetchone()[0] == 0
    with store.writing() as db:  # a face crop kept on the device for this person (encrypted blob)
        db.conn.execute("INSERT INTO crops (person, key_id, nonce, ciphertext, created_at, expires_at)"
                        " VALUES ('2201234567', 'k1', x'00', ?, ?, ?)",
                        (b"CROP-OF-SITI" * 50, "2026-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"))
    pin_hash = siti.pin_hash
    late = Presence(store, Door(), Metrics()).accept_fallback("2201234567", "pin").event  # not pushed yet
    assert late is not None

    api.call("DELETE", f"/people/{person['id']}")
    pending = next(t for t in api.call("GET", "/tombstones") if t["number"] == "2201234567")
    assert pending["devices_acknowledged"] == 0 and pending["devices_pending"] == 1

    second = Sync(store, config).once()  # one pull
    assert second.state == "ok" and second.pulled.erased == 1, second.detail
    assert store.person("2201234567") is None
    assert store.templates(MODEL_ID) == {}
    assert store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0] == 0
    assert store.person("2209999999") is not None
    wal = store.path.with_name(store.path.name + "-wal")
    raw = store.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert pin_hash.encode() not in raw and b"CROP-OF-SITI" not in raw, "secure_delete leaves no bytes"
    assert vectors[0].astype("<f4").tobytes()[:64] not in raw

    assert second.pushed.accepted == 1 and store.outbox_size() == 0, "the late event still counts"
    database = Database(server_db)
    with database.session() as session:
        stored = session.scalars(select(Event).where(Event.event_id == late.id)).one()
    database.dispose()
    assert stored.person_number is None, "the server keeps no number of an erased person, even arriving late"

    acked = next(t for t in api.call("GET", "/tombstones") if t["number"] == "2201234567")
    assert acked["devices_acknowledged"] == 1 and acked["devices_pending"] == 0
    seen = api.call("GET", f"/devices/{device['device']['id']}")
    assert seen["acked_cursor"] == store.sync_value("cursor") == store.sync_value("acked_cursor")


def test_a_revoked_kiosk_stops_pushing_keeps_recording_and_loses_nothing(live_server: LiveServer, server_db: str,
                                                                        tmp_path: Path) -> None:
    api = live_server
    first = api.register_device()
    proxy = Proxy(("127.0.0.1", live_server.port))
    store = Store(tmp_path / "kiosk.db")
    config = fast_config(interval_s=0.1, pull_interval_s=0.5)
    provision(store, config, credentials_for(proxy.url, first), "test")
    presence = Presence(store, Door(), Metrics())
    sync = Sync(store, config)
    presence.listeners.append(sync.on_event)
    sync.start()
    try:
        write_backlog(store, 500)
        sync.wake()
        wait_for(lambda: store.outbox_size() == 0, 30, "the first events to sync")

        api.call("POST", f"/devices/{first['device']['id']}:revoke")
        for i in range(40):  # the door keeps recording
            assert presence.accept_fallback(f"2204{i:06d}", "pin").event is not None
        wait_for(lambda: store.sync_value("state") == "unauthorised", 30, "sync to notice the revocation")
        status = state.status(store)
        assert "not authorised" in status["detail"] and "revoked" in status["detail"]
        requests_then = len(proxy.seen)
        for i in range(40, 60):
            presence.accept_fallback(f"2204{i:06d}", "pin")
        time.sleep(1.5)  # 15 intervals, several new events: not one more request
        assert len(proxy.seen) == requests_then, "a revoked kiosk stops talking to the server"
        assert store.outbox_size() == 60 and sync.alive

        second = api.register_device(name="door LAB-1 (again)")
        pasted = subprocess.run(
            [sys.executable, "-m", "sync.cli", "provision", "-", "--config",
             str(write_config(tmp_path / "config.toml", store.path))],
            input=through(second["qr_payload"], proxy.url) + "\n", capture_output=True,
            text=True, cwd=ROOT, timeout=60)
        assert pasted.returncode == 0 and "activated" in pasted.stdout, pasted.stdout + pasted.stderr
        assert second["provisioning_token"] not in pasted.stdout + pasted.stderr, "the token is never printed"
        kept = creds.load(tmp_path / "kiosk.sync-credentials.json")
        assert kept is not None and not kept.pending and kept.token not in pasted.stdout + pasted.stderr
        wait_for(lambda: store.outbox_size() == 0, 30, "the kept events to reach the server under the new device")
        assert store.sync_value("device_id") == second["device"]["id"] and store.sync_value("state") == "ok"

        # A rotated token is refused the same way; the rotated payload brings the kiosk back.
        rotated = api.call("POST", f"/devices/{second['device']['id']}:rotate-token")
        presence.accept_fallback("2205000000", "pin")
        wait_for(lambda: store.sync_value("state") == "unauthorised", 30, "sync to notice the rotation")
        provision(store, config, credentials_for(proxy.url, rotated), "test")
        wait_for(lambda: store.outbox_size() == 0 and store.sync_value("state") == "ok", 30, "sync to resume")
    finally:
        sync.stop()
        proxy.close()
    stored = server_events(server_db)
    ids = all_ids(store)
    assert len(ids) == 561 and len(stored) == 561, "each event once, none lost"
    assert {e for _, e, _ in stored} == set(ids)
    by_device = {d: sum(1 for x, _, _ in stored if x == d) for d, _, _ in stored}
    assert by_device == {first["device"]["id"]: 500, second["device"]["id"]: 61}


class PullOut:
    """A kiosk that cannot reach the server, serving its events on its pull-out endpoint, and
    ``labgate-server pull-device`` run against it."""

    def __init__(self, store: Store, device_id: str, server_db: str) -> None:
        self.store, self.device_id = store, device_id
        self.token = "kiosk-events-token-" + uuid.uuid4().hex
        self.http = StatusServer("127.0.0.1", 0, store, lambda: {}, lambda: b"", self.token,
                                 lambda: store.sync_value("device_id") or "").start()
        self.env = {**os.environ, **SERVER_ENV, "LABGATE_DATABASE_URL": server_db}

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "server.cli", "pull-device", f"http://127.0.0.1:{self.http.port}", "--token",
                self.token, "--device-id", self.store.sync_value("device_id") or "", *extra]

    def run(self, *extra: str) -> tuple[int, int, str]:
        """(accepted, duplicate, the printed line) of one run."""
        done = subprocess.run(self.command(*extra), capture_output=True, text=True, cwd=ROOT, env=self.env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return counts(done.stdout)

    def stop(self) -> None:
        self.http.stop()


def counts(printed: str) -> tuple[int, int, str]:
    found = re.search(r"accepted (\d+), duplicate (\d+)", printed)
    assert found, printed
    return int(found[1]), int(found[2]), printed


def test_pull_mode_ingests_a_kiosks_backlog_once_when_run_twice(live_server: LiveServer, server_db: str,
                                                                tmp_path: Path) -> None:
    device = live_server.register_device()
    device_id = device["device"]["id"]
    store = Store(tmp_path / "kiosk.db")
    config = fast_config()
    provision(store, config, credentials_for("http://127.0.0.1:9", device), "test")  # a server it cannot reach
    store.set_sync_values({"device_id": device_id})  # the mirror the kiosk's /events names itself by
    write_backlog(store, 2_450)
    presence = Presence(store, Door(), Metrics())
    for i in range(50):
        presence.accept_fallback(f"2206{i:06d}", "qr")
    kiosk = PullOut(store, device_id, server_db)
    try:
        assert kiosk.run()[:2] == (2_500, 0)
        first = server_events(server_db, device_id)
        assert kiosk.run()[:2] == (0, 0), "the second run resumes after what is stored: nothing to read"
        # Forced to read everything again: every event goes through the ingest and comes back a duplicate.
        assert kiosk.run("--after", "0")[:2] == (0, 2_500)
        assert sorted(server_events(server_db, device_id)) == sorted(first), "rows unchanged"

        # Two runs at once over the same 100 new events: each stored once, the other run counts duplicates.
        write_backlog(store, 100)
        both = [subprocess.Popen(kiosk.command("--after", "2500"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, cwd=ROOT, env=kiosk.env) for _ in range(2)]
        outputs = [run.communicate(timeout=120) for run in both]
        assert all(run.returncode == 0 for run in both), [err for _, err in outputs]
        tallies = [counts(out)[:2] for out, _ in outputs]
        assert sum(a for a, _ in tallies) == 100 and sum(a + d for a, d in tallies) == 200, tallies
    finally:
        kiosk.stop()
    stored = server_events(server_db, device_id)
    assert len(stored) == 2_600 and {e for _, e, _ in stored} == set(all_ids(store))
    # The kiosk's own push later finds them all on the server: duplicates, marked synced, nothing added.
    provision(store, config, credentials_for(live_server.base, device), "test")
    report = Sync(store, config).once()
    assert report.state == "ok" and report.pushed.duplicate == 2_600 and report.pushed.accepted == 0
    assert store.outbox_size() == 0 and len(server_events(server_db, device_id)) == 2_600


def test_pull_mode_after_reprovisioning_as_a_new_device_stores_no_event_twice(live_server: LiveServer,
                                                                              server_db: str, tmp_path: Path) -> None:
    old, new = live_server.register_device(), live_server.register_device(name="door LAB-1 (again)")
    old_id, new_id = old["device"]["id"], new["device"]["id"]
    store = Store(tmp_path / "kiosk.db")
    store.set_sync_values({"device_id": old_id})
    write_backlog(store, 300)
    kiosk = PullOut(store, old_id, server_db)
    try:
        assert kiosk.run()[:2] == (300, 0)
        store.set_sync_values({"device_id": new_id})  # provisioned again as a new device (sync mirrors its id)
        write_backlog(store, 40)
        accepted, duplicate, printed = kiosk.run()
        assert (accepted, duplicate) == (40, 300), printed
        assert "300 of them stored under an earlier device id" in printed
        assert kiosk.run()[:2] == (0, 340), "run again: still nothing stored twice"
    finally:
        kiosk.stop()
    assert len(server_events(server_db, old_id)) == 300 and len(server_events(server_db, new_id)) == 40
    stored = server_events(server_db)
    assert len(stored) == 340 and {e for _, e, _ in stored} == set(all_ids(store)), "each event once"
