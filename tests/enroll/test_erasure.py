"""Acceptance 4: after an erasure, no byte of the person's templates (nor their crops, PIN hash or
name) is left in the database file or its WAL, also while the kiosk runs and its loop thread reads
(checked before anything is closed: closing the last connection would checkpoint the WAL anyway);
an erasure that readers held back is reported, never as done, and finished later; the erasure is
audited. And kept crops: encrypted with a key outside the database (mode 600), deleted after their
retention time."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from device.store import Store
from enroll.crops import CropKeyError, CropVault
from enroll.folder import import_folder
from enroll.retention import Retention
from enroll.service import EnrolmentService
from kiosk.pin import hash_pin
from tests.enroll.conftest import Imported, SnapshotReader, enrol_config, run_cli

pytestmark = pytest.mark.data


def _on_disk(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _pieces(secret: bytes) -> list[bytes]:
    """The pieces of ``secret`` whose presence anywhere counts as a fragment left: every 24 bytes of a
    template (2 KB), PIN hash or name (a shorter one whole), every 256 bytes of a crop (tens of KB over
    overflow pages, each page with its own 4-byte header; a page left behind holds 15 such pieces)."""
    size = 24 if len(secret) <= 4096 else 256
    if len(secret) <= size:
        return [secret]
    return [secret[i:i + size] for i in range(0, len(secret) - size + 1, size)]


def _secrets(store: Store, number: str) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Give ``number`` a name and a PIN; returns their (template blobs, crop ciphertexts, name and PIN
    hash), after making the WAL hold old images of their pages too (as a running kiosk's would)."""
    conn = store.db.conn
    conn.execute("UPDATE people SET name = 'Jiang Zemin-Secretname', pin_hash = ? WHERE number = ?",
                 (hash_pin("8642"), number))
    conn.commit()
    pin_hash = store.person_record(number)["pin_hash"]  # type: ignore[index]
    blobs = [bytes(r[0]) for r in conn.execute("SELECT vector FROM templates WHERE person = ?", (number,))]
    crops = [bytes(r[0]) for r in conn.execute("SELECT ciphertext FROM crops WHERE person = ?", (number,))]
    conn.execute("UPDATE templates SET quality = 0.5 WHERE person = ?", (number,))
    conn.commit()
    return blobs, crops, [pin_hash.encode(), b"Secretname"]


def _left_on_disk(db: Path, secrets: list[bytes]) -> list[int]:
    """The indices of ``secrets`` of which any 24-byte piece is in the database file or its WAL."""
    data = _on_disk(db)
    return [i for i, secret in enumerate(secrets) if any(piece in data for piece in _pieces(secret))]


def test_erasure_while_the_kiosk_reads_leaves_no_bytes_before_anything_closes(
        store_copy: Callable[[], Store], door_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The service erases on a store that stays open, while another thread reads it the way the
    recognition loop does, holding a snapshot from before the erasure at that moment."""
    store = store_copy()
    service = EnrolmentService(store, door_engine, enrol_config(tmp_path))
    number = "Jiang_Zemin"
    blobs, crops, record = _secrets(store, number)
    secrets = [*blobs, *crops, *record]
    others = [bytes(r[0]) for r in store.db.conn.execute("SELECT vector FROM templates WHERE person = 'Kim_Clijsters'")]
    assert blobs and crops and _left_on_disk(store.path, secrets) == list(range(len(secrets)))
    with SnapshotReader(store, door_engine.model_id) as reader:
        reader.hold()  # at the erasure, the reader's snapshot still holds the person
        threading.Timer(0.5, reader.release).start()
        erased = service.remove(number, "19800101")
        assert erased is not None and erased.wiped, erased
        assert (erased.templates, erased.crops) == (len(blobs), len(crops))
        assert _left_on_disk(store.path, secrets) == [], "not even a fragment, with every connection open"
        data = _on_disk(store.path)
        assert all(o in data for o in others), "other people are untouched"
        reads = reader.reads
        deadline = time.monotonic() + 10
        while reader.reads < reads + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert number not in reader.seen and "Kim_Clijsters" in reader.seen, "the loop sees the erasure"
    assert store.wipe_pending() == 0 and store.integrity() == "ok"
    store.close()


def test_an_erasure_held_back_by_a_reader_is_not_reported_as_done(imported: Imported,
                                                                   store_copy: Callable[[], Store]) -> None:
    """A reader that keeps an older snapshot (a busy kiosk) longer than `remove --wait`: the CLI says
    the erasure is not yet wiped and exits 3; the bytes are indeed still there; once the reader lets
    go, `purge` wipes them."""
    store = store_copy()
    db = store.path
    number = "Jiang_Zemin"
    blobs, crops, record = _secrets(store, number)
    secrets = [*blobs, *crops, *record]
    reader = sqlite3.connect(db)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM templates WHERE person = ?", (number,)).fetchone()[0] == len(blobs)

    code, out, err = run_cli("remove", number, "--yes", "--wait", "0.5", "--by", "19800101",
                             "--config", str(imported.config), "--db", str(db))
    assert code == 3, (out, err)
    assert "NOT yet wiped" in out and "still in the database's WAL" in err and "labgate-enroll purge" in err
    assert store.person_record(number) is None, "erased all the same"
    assert store.wipe_pending() > 0
    assert _left_on_disk(db, secrets), "the reader's snapshot still needs the old pages"

    reader.execute("COMMIT")  # the reader moves on
    code, out, err = run_cli("purge", "--by", "19800101", "--config", str(imported.config), "--db", str(db))
    assert code == 0 and "WAL wiped" in out, (out, err)
    assert _left_on_disk(db, secrets) == [] and store.wipe_pending() == 0
    reader.close()
    store.close()


def test_the_kiosk_retention_thread_finishes_a_wipe_readers_held_back(store_copy: Callable[[], Store],
                                                                     tmp_path: Path) -> None:
    store = store_copy()
    number = "Jiang_Zemin"
    blobs, crops, record = _secrets(store, number)
    secrets = [*blobs, *crops, *record]
    reader = sqlite3.connect(store.path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM templates").fetchone()
    erased = store.erase_person(number, "19800101", wait_s=0.2)
    assert erased is not None and not erased.wiped and store.wipe_pending() == 1
    retention = Retention(store, enrol_config(tmp_path), wipe_retry_s=0.1).start()
    try:
        time.sleep(0.5)
        assert store.wipe_pending() == 1 and _left_on_disk(store.path, secrets), "held back while the reader reads"
        reader.execute("COMMIT")
        deadline = time.monotonic() + 10
        while store.wipe_pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.wipe_pending() == 0 and _left_on_disk(store.path, secrets) == []
    finally:
        retention.stop()
        reader.close()
        store.close()


def test_cli_remove_erases_and_audits_the_person(imported: Imported, store_copy: Callable[[], Store]) -> None:
    """`labgate-enroll remove` on a kiosk store nobody else has open: wiped, audited under --by."""
    store = store_copy()
    db = store.path
    number = "Jiang_Zemin"
    blobs, crops, record = _secrets(store, number)
    secrets = [*blobs, *crops, *record]
    assert _left_on_disk(db, secrets) == list(range(len(secrets)))

    code, out, _err = run_cli("remove", number, "--yes", "--by", "19800101", "--config", str(imported.config),
                              "--db", str(db))
    assert code == 0 and f"{number}: erased ({len(blobs)} templates, {len(crops)} crops" in out and "WAL wiped" in out
    assert _left_on_disk(db, secrets) == []
    assert store.person_record(number) is None and store.integrity() == "ok"
    [entry] = [row for row in store.audit_log() if row["action"] == "person.erase"]
    assert entry["actor"] == "19800101" and number in entry["detail"] and '"found": true' in entry["detail"]
    assert f'"templates": {len(blobs)}' in entry["detail"]
    store.close()


def test_crops_are_sealed_with_a_key_outside_the_database(service: EnrolmentService, imported: Imported,
                                                          tmp_path: Path) -> None:
    key_file = service.config.key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    assert key not in _on_disk(service.store.path)
    [first, *_] = service.store.kept_crops("Tim_Henman")
    crop, spec = service.vault().open("Tim_Henman", first.key_id, first.nonce, first.ciphertext)
    assert crop.shape == (160, 160, 3) and spec["size"] == [160, 160]
    assert crop.tobytes()[:256] not in first.ciphertext
    with pytest.raises(CropKeyError):  # bound to its person
        service.vault().open("Kim_Clijsters", first.key_id, first.nonce, first.ciphertext)
    other = CropVault(tmp_path / "other.key")
    with pytest.raises(CropKeyError, match="not this kiosk's key"):
        other.open("Tim_Henman", first.key_id, first.nonce, first.ciphertext)
    os.chmod(key_file, 0o644)
    with pytest.raises(CropKeyError, match="chmod 600"):
        CropVault(key_file)


def test_expired_crops_are_deleted_and_none_are_kept_when_off(store_copy: Callable[[], Store], door_engine,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    store = store_copy()
    total = int(store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0])
    store.db.conn.execute("UPDATE crops SET expires_at = '2000-01-01T00:00:00.000Z' WHERE person = 'Tim_Henman'")
    store.db.conn.commit()
    assert EnrolmentService(store, door_engine, enrol_config(tmp_path)).purge_crops("system") > 0
    left = int(store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0])
    assert 0 < left < total and not store.kept_crops("Tim_Henman")
    assert EnrolmentService(store, door_engine, enrol_config(tmp_path, keep_crops=False)).purge_crops("system") == left
    assert int(store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0]) == 0
    assert any(row["action"] == "crops.purge" for row in store.audit_log())
    store.close()


def test_remove_needs_confirmation_and_a_known_number(imported: Imported, tmp_path: Path) -> None:
    db = tmp_path / "kiosk.db"
    shutil.copy(imported.db, db)
    code, _out, err = run_cli("remove", "Tim_Henman", "--config", str(imported.config), "--db", str(db))
    assert code == 2 and "--yes" in err
    code, out, _err = run_cli("remove", "2209999999", "--yes", "--config", str(imported.config), "--db", str(db))
    assert code == 1 and "not in this kiosk's store" in out
    store = Store(db)
    assert store.person_record("Tim_Henman") is not None
    assert int(store.db.conn.execute("SELECT count(*) FROM templates WHERE person = 'Tim_Henman'").fetchone()[0]) > 0
    store.close()


def test_a_crop_key_that_cannot_be_used_saves_nothing(service: EnrolmentService, known: dict[str, list[Path]],
                                                      tmp_path: Path) -> None:
    folder = tmp_path / "photos" / "2201000400"
    folder.mkdir(parents=True)
    service.remove("Winona_Ryder", "t")
    for photo in known["Winona_Ryder"][:3]:
        shutil.copy(photo, folder / photo.name)
    bad_key = tmp_path / "open.key"
    bad_key.write_bytes(os.urandom(32))
    os.chmod(bad_key, 0o644)
    locked = EnrolmentService(service.store, service.engine, enrol_config(tmp_path, key_file=bad_key))
    report = import_folder(locked, folder.parent, "t", consent=True)
    assert [(p.status, p.kind) for p in report.people] == [("refused", "crop_key")]
    assert "chmod 600" in report.people[0].message
    assert locked.store.person_record("2201000400") is None
