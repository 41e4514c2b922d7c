"""Acceptance 4: after `labgate-enroll remove`, no byte of the person's templates (nor their crops,
PIN hash or name) is left in the database file or its WAL; the erasure is audited. And kept crops:
encrypted with a key outside the database (mode 600), deleted after their retention time."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from enroll.crops import CropKeyError, CropVault
from enroll.service import EnrolmentService
from kiosk.pin import hash_pin
from kiosk.store import Store
from tests.enroll.conftest import Imported, enrol_config, run_cli

pytestmark = pytest.mark.data


def _on_disk(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _pieces(secret: bytes, size: int = 32) -> list[bytes]:
    """Every ``size``-byte piece of ``secret`` (a crop spans overflow pages, each with its own header)."""
    return [secret[i:i + size] for i in range(0, len(secret) - size + 1, size)]


def test_removed_person_leaves_no_bytes_in_the_file_or_wal(imported: Imported, tmp_path: Path) -> None:
    db = tmp_path / "kiosk.db"
    shutil.copy(imported.db, db)
    shutil.copy(imported.key, tmp_path / "crops.key")
    number = "Jiang_Zemin"
    store = Store(db)
    store.db.conn.execute("UPDATE people SET name = 'Jiang Zemin-Secretname', pin_hash = ? WHERE number = ?",
                          (hash_pin("8642"), number))
    store.db.conn.commit()
    pin_hash = store.person_record(number)["pin_hash"]  # type: ignore[index]
    blobs = [bytes(row[0]) for row in store.db.conn.execute("SELECT vector FROM templates WHERE person = ?",
                                                            (number,))]
    crops = [bytes(row[0]) for row in store.db.conn.execute("SELECT ciphertext FROM crops WHERE person = ?",
                                                            (number,))]
    others = [bytes(row[0]) for row in store.db.conn.execute(
        "SELECT vector FROM templates WHERE person = 'Kim_Clijsters'")]
    # Make the WAL hold old images of the person's pages too (as a running kiosk's would).
    store.db.conn.execute("UPDATE templates SET quality = 0.5 WHERE person = ?", (number,))
    store.db.conn.commit()
    store.close()
    secrets = [*blobs, *crops, pin_hash.encode(), b"Secretname"]
    before = _on_disk(db)
    assert blobs and crops and all(b in before for b in blobs) and b"Secretname" in before
    assert all(sum(p in before for p in _pieces(c)) > 0.9 * len(_pieces(c)) for c in crops), "crops visible before"

    code, out, _err = run_cli("remove", number, "--yes", "--by", "19800101", "--config", str(imported.config),
                              "--db", str(db))
    assert code == 0 and "WAL wiped" in out, out
    data = _on_disk(db)
    for secret in secrets:
        assert not any(piece in data for piece in _pieces(secret, 24)), "not even a fragment"
    assert all(s in data for s in others), "other people are untouched"
    store = Store(db)
    assert store.person_record(number) is None
    assert store.integrity() == "ok"
    [entry] = [row for row in store.audit_log() if row["action"] == "person.erase"]
    assert entry["actor"] == "19800101" and number in entry["detail"]
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
    EnrolmentService(store, door_engine, enrol_config(tmp_path))  # retention runs at start
    left = int(store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0])
    assert 0 < left < total and not store.kept_crops("Tim_Henman")
    EnrolmentService(store, door_engine, enrol_config(tmp_path, keep_crops=False))
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
    report = locked.import_folder(folder.parent, "t", consent=True)
    assert [(p.status, p.kind) for p in report.people] == [("refused", "crop_key")]
    assert "chmod 600" in report.people[0].message
    assert locked.store.person_record("2201000400") is None
