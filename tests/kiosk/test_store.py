"""The device store: migrations, the outbox, several threads without "database is locked", a full
disk that loses nothing, templates per model, erasure."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from device.events import new_event
from device.migrations import MIGRATIONS
from device.store import Store, StoreError
from kiosk.door import Door
from kiosk.metrics import Metrics
from kiosk.presence import AlreadyUsed, Presence


def test_new_store_is_migrated_in_wal_and_reopens_unchanged(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    assert store.schema_version == MIGRATIONS[-1][0]
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert {"people", "templates", "events", "audit", "sync_state", "settings", "qr_used", "bookings"} <= set(
        store.db.table_names())
    store.close()
    again = Store(tmp_path / "k.db")
    assert again.schema_version == MIGRATIONS[-1][0]
    again.close()


def test_a_store_from_a_newer_kiosk_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "k.db")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "k.db")


def test_seq_is_monotonic_from_1_and_never_reused(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    seqs = [store.record_event(new_event(None, "unknown", "face", time.time(), score=0.1, margin=0.0,
                                         model_id="m")).seq for _ in range(3)]
    assert seqs == [1, 2, 3]
    store.db.conn.execute("DELETE FROM events WHERE seq = 3")
    store.db.conn.commit()
    assert store.record_event(new_event("x", "accept", "pin", time.time())).seq == 4


def test_outbox_is_marked_synced_in_one_go(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    events = [store.record_event(new_event(f"p{i}", "accept", "pin", time.time())) for i in range(5)]
    assert store.outbox_size() == 5
    assert store.mark_synced([events[0].id, events[2].id, "not-an-id"]) == 2
    assert [e.seq for e in store.outbox()] == [2, 4, 5]
    assert store.mark_synced([events[0].id]) == 0  # already synced: unchanged


def test_threads_write_and_read_at_once_without_locked_errors(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(150):
                store.record_event(new_event(f"{name}{i}", "accept", "pin", time.time()))
                if i % 25 == 0:
                    store.audit(name, "tick", i=i)
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(150):
                store.outbox_size()
                store.events_after(0, 50)
        except BaseException as exc:
            errors.append(exc)

    def syncer() -> None:
        try:
            for _ in range(30):
                store.mark_synced([e.id for e in store.outbox(20)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in "abc"]
    threads += [threading.Thread(target=reader), threading.Thread(target=syncer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert store.last_seq() == 450
    assert store.integrity() == "ok"
    store.close()


def test_a_full_disk_keeps_the_event_and_writes_it_later(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    door = Door()
    presence = Presence(store, door, Metrics())
    pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
    store.db.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    written = [presence.accept_fallback(f"22{i:08d}", "pin").event for i in range(300)]
    failed = sum(e is None for e in written)
    assert failed > 0 and presence.pending == failed, "the full database should refuse some writes"
    assert door.snapshot().notice == "store_error"
    store.db.conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    presence._retry_at = 0
    assert presence.retry() == failed
    assert presence.pending == 0
    assert sorted(e.person or "" for e in store.events_after(0)) == [f"22{i:08d}" for i in range(300)]
    assert store.integrity() == "ok"


def test_a_qr_token_id_is_accepted_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    presence = Presence(store, Door(), Metrics())
    presence.accept_fallback("2201", "qr", qr_jti=("jti-1", 2_000_000_000))
    with pytest.raises(AlreadyUsed):
        presence.accept_fallback("2201", "qr", qr_jti=("jti-1", 2_000_000_000))
    assert [e.method for e in store.events_after(0)] == ["qr"]


def test_templates_are_per_model_and_erasure_removes_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    store.upsert_person("2201", "Siti")
    store.upsert_person("2202", "Budi", active=False)
    vectors = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    before = store.gallery_version()
    store.add_templates("2201", "model-a", vectors, source="test")
    store.add_templates("2202", "model-a", vectors[:1])
    store.add_templates("2201", "model-b", vectors[:2])
    assert store.gallery_version() > before
    got = store.templates("model-a")
    assert list(got) == ["2201"]  # the inactive person is not in the gallery
    np.testing.assert_array_equal(got["2201"], vectors)
    assert store.templates("model-b")["2201"].shape == (2, 8)
    erased = store.erase_person("2201", actor="19800101")
    assert erased is not None and (erased.templates, erased.crops, erased.wiped) == (5, 0, True)
    assert store.templates("model-a") == {} and store.templates("model-b") == {}
    assert store.person("2201") is None and store.wipe_pending() == 0
    assert store.audit_log()[0]["action"] == "person.erase"
    with pytest.raises(ValueError, match="number"):
        store.upsert_person("  ")


def test_a_version_1_store_is_migrated_to_the_latest_with_its_data_kept(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    version, _summary, v1_schema = MIGRATIONS[0]
    assert version == 1
    conn = sqlite3.connect(path)  # a kiosk of the first release made this file
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(v1_schema)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO people (number, name, roles, pin_hash, active, consent_at, version, updated_at)"
                 " VALUES ('2201', 'Siti Rahma', '[\"student\"]', 'scrypt$16384$8$1$YQ==$YQ==', 1,"
                 " '2024-01-02T03:04:05.000Z', 3, '2024-01-02T03:04:05.000Z')")
    vector = np.arange(8, dtype="<f4") / 10
    conn.execute("INSERT INTO templates (person, model_id, vector, quality, source, created_at)"
                 " VALUES ('2201', 'model-a', ?, 0.9, 'enrol', '2024-01-02T03:04:05.000Z')", (vector.tobytes(),))
    for i, (person, outcome, method) in enumerate([("2201", "accept", "face"), (None, "unknown", "face"),
                                                   ("2201", "accept", "pin")], start=1):
        conn.execute("INSERT INTO events (id, person, outcome, method, captured_at, synced_at)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     (f"0190e000-0000-7000-8000-00000000000{i}", person, outcome, method,
                      f"2024-01-02T08:0{i}:00.000Z", "2024-01-02T09:00:00.000Z" if i == 1 else None))
    conn.execute("INSERT INTO settings (key, value) VALUES ('qr_public_key', 'a2V5')")
    conn.execute("INSERT INTO sync_state (name, value, updated_at) VALUES ('cursor', 'c-17', '2024-01-02T09:00:00Z')")
    conn.execute("INSERT INTO audit (at, actor, action, detail)"
                 " VALUES ('2024-01-02T03:04:05Z', 'cli', 'technician.set', '{}')")
    conn.commit()
    v1_gallery = conn.execute("SELECT value FROM settings WHERE key = 'gallery_version'").fetchone()[0]
    conn.close()

    store = Store(path)
    assert store.schema_version == MIGRATIONS[-1][0] > 1
    person = store.person("2201")
    assert person is not None and (person.name, person.roles, person.version, person.consent_at) == (
        "Siti Rahma", ("student",), 3, "2024-01-02T03:04:05.000Z")
    record = store.person_record("2201")
    assert record is not None and record["origin"] == "device" and record["consent_by"] is None
    np.testing.assert_array_equal(store.templates("model-a")["2201"], vector[None, :])
    events = store.events_after(0)
    assert [(e.seq, e.person, e.outcome, e.method) for e in events] == [
        (1, "2201", "accept", "face"), (2, None, "unknown", "face"), (3, "2201", "accept", "pin")]
    assert [e.seq for e in store.outbox()] == [2, 3], "what was synced stays synced"
    assert store.setting("qr_public_key") == "a2V5" and store.sync_value("cursor") == "c-17"
    assert store.gallery_version() == int(v1_gallery)
    assert store.record_event(new_event("2201", "accept", "qr", time.time())).seq == 4, "seq goes on"
    tables = set(store.db.table_names())
    assert {"crops", "sync_issues", "commands"} <= tables, "version 2's tables"
    store.add_templates("2201", "model-a", vector[None, :])
    assert store.gallery_version() == int(v1_gallery) + 1, "version 1's triggers still count gallery changes"
    assert store.integrity() == "ok"
    store.close()
