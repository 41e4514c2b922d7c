"""`labgate-enroll list`, `reembed`, `purge` and `import-bundle` on a copy of the imported store:
what they print, their exit status, and what they change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from device.store import Store
from enroll.bundle import export_gallery
from enroll.service import EnrolmentService
from models import catalog
from tests.enroll.conftest import Imported, enrol_config, run_cli, write_config

pytestmark = pytest.mark.data

PASSPHRASE = "lab door two kiosks"


@pytest.fixture
def db(imported: Imported, tmp_path: Path) -> Path:
    target = tmp_path / "kiosk.db"
    shutil.copy(imported.db, target)
    shutil.copy(imported.key, tmp_path / "crops.key")
    return target


def test_list_shows_everyone_with_their_face_data(imported: Imported, db: Path, door_engine) -> None:  # type: ignore[no-untyped-def]
    code, out, _err = run_cli("list", "--config", str(imported.config), "--db", str(db))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"model {door_engine.model_id}" and lines[1].split()[:3] == ["number", "name", "templates"]
    [henman] = [line for line in lines if line.startswith("Tim_Henman ")]
    store = Store(db)
    templates, crops = len(store.template_rows(door_engine.model_id, "Tim_Henman")), len(store.kept_crops("Tim_Henman"))
    store.close()
    assert henman.split()[1:4] == [str(templates), "0", str(crops)] and "by 19800101 policy 1" in henman
    assert lines[-1] == "25 people, 25 with templates of this model"

    code, out, _err = run_cli("list", "--json", "--config", str(imported.config), "--db", str(db))
    people = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(people) == 25
    assert {p["number"]: p["templates"] for p in people}["Tim_Henman"] == templates


def test_reembed_for_a_new_model_then_prune(imported: Imported, db: Path, model_dir: Path, tmp_path: Path) -> None:
    """The config names the fp32 embedder: two people with kept crops are re-embedded, the others (crops
    deleted here) are marked for re-enrolment; --prune then drops the old model's templates."""
    fp32 = next(name for name in catalog.read_index(model_dir)["files"] if name.endswith(".fp32.onnx"))
    config = write_config(tmp_path, keep_crops=True)
    config.write_text(config.read_text().replace('embedder = "auto"', f'embedder = "{fp32}"', 1))
    store = Store(db)
    store.db.conn.execute("DELETE FROM crops WHERE person NOT IN ('Tim_Henman', 'Kim_Clijsters')")
    store.db.conn.commit()
    old_model = str(store.db.conn.execute("SELECT model_id FROM templates LIMIT 1").fetchone()[0])
    old = sum(len(v) for v in store.face_templates(old_model).values())

    code, out, err = run_cli("reembed", "--by", "19800101", "--config", str(config), "--db", str(db))
    assert code == 0, err
    assert ": 2 re-embedded from kept crops, 23 need re-enrolment at the door" in out
    assert "  needs re-enrolment  Jiang_Zemin  " in out and "no kept crops" in out
    new_model = out.split()[1].rstrip(":")
    assert "fp32" in new_model and sorted(store.templates(new_model)) == ["Kim_Clijsters", "Tim_Henman"]

    code, out, err = run_cli("reembed", "--prune", "--by", "19800101", "--config", str(config), "--db", str(db))
    assert code == 0, err
    assert f"0 re-embedded from kept crops, 23 need re-enrolment at the door, {old} templates of other models " \
           "deleted" in out
    assert {row[0] for row in store.db.conn.execute("SELECT DISTINCT model_id FROM templates")} == {new_model}
    assert any(row["action"] == "enrol.reembed" and row["actor"] == "19800101" for row in store.audit_log())
    store.close()


def test_purge_deletes_expired_crops_and_wipes(imported: Imported, db: Path) -> None:
    store = Store(db)
    henman = len(store.kept_crops("Tim_Henman"))
    total = int(store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0])
    store.db.conn.execute("UPDATE crops SET expires_at = '2000-01-01T00:00:00.000Z' WHERE person = 'Tim_Henman'")
    store.db.conn.commit()
    store.close()
    code, out, err = run_cli("purge", "--by", "19800101", "--config", str(imported.config), "--db", str(db))
    assert code == 0 and out.strip() == f"{henman} kept crops deleted; WAL wiped", (out, err)
    store = Store(db)
    assert not store.kept_crops("Tim_Henman")
    assert int(store.db.conn.execute("SELECT count(*) FROM crops").fetchone()[0]) == total - henman
    code, out, _err = run_cli("purge", "--config", str(imported.config), "--db", str(db))
    assert code == 0 and out.startswith("0 kept crops deleted")
    store.close()


def test_import_bundle_enrols_a_bundles_people(imported: Imported, service: EnrolmentService, door_engine,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    file = tmp_path / "two.lgb"
    assert export_gallery(service, file, PASSPHRASE, "19800101", ["Tim_Henman", "Kim_Clijsters"])[0] == 2
    secret = tmp_path / "passphrase"
    secret.write_text("not the passphrase\n")
    other = tmp_path / "other.db"
    args = ("--by", "19790101", "--config", str(imported.config), "--db", str(other))
    code, _out, err = run_cli("import-bundle", str(file), "--passphrase-file", str(secret), *args)
    assert code == 2 and "wrong passphrase" in err
    secret.write_text(PASSPHRASE + "\n")
    code, out, err = run_cli("import-bundle", str(file), "--passphrase-file", str(secret), *args)
    assert code == 0 and out.strip() == f"{file}: enrolled 2 people, refused 0", (out, err)
    there = EnrolmentService(Store(other), door_engine, enrol_config(tmp_path))
    assert sorted(there.store.templates(door_engine.model_id)) == ["Kim_Clijsters", "Tim_Henman"]
    assert any(row["action"] == "bundle.import" and row["actor"] == "19790101" for row in there.store.audit_log())

    # On a kiosk where Tim Henman's face is enrolled under another number, his entry is refused (exit 1).
    vectors = np.stack([v for v, _q, _s in there.store.template_rows(door_engine.model_id, "Tim_Henman")])
    there.remove("Tim_Henman", "t")
    there.enrol("2201000009", vectors, [None] * len(vectors), "t", "test", consent=("2024-01-01T00:00:00.000Z", "t",
                                                                                    "1"), crops=None)
    there.store.close()
    code, out, _err = run_cli("import-bundle", str(file), "--passphrase-file", str(secret), *args)
    assert code == 1 and "enrolled 1 people, refused 1" in out
    assert "refused Tim_Henman: duplicate: Tim_Henman: the face is already enrolled as 2201000009" in out
