"""Acceptance 6: a gallery bundle exported from one device store and imported into another gives the
same decisions; a bundle for another model id is refused (and a wrong passphrase or a changed bundle
opens nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.store import Store
from enroll import bundle
from enroll.bundle import BundleError, export_gallery, import_gallery
from enroll.service import EnrolmentService
from models.engine import FaceEngine
from tests.enroll.conftest import Imported, enrol_config, run_cli

pytestmark = pytest.mark.data

PASSPHRASE = "lab door two kiosks"


def _decisions(store: Store, engine: FaceEngine, probes: list[tuple[str, Path, np.ndarray]]) -> list[tuple]:
    gallery = engine.new_gallery()
    for person, vectors in store.templates(engine.model_id).items():
        gallery.add(person, vectors, engine.model_id)
    return [(d.outcome, d.person, d.candidate, round(d.score, 6), round(d.margin, 6))
            for d in (engine.identify(embedding, gallery) for _p, _path, embedding in probes)]


def test_bundle_moves_a_gallery_with_the_same_decisions(imported: Imported, tmp_path: Path, door_engine: FaceEngine,
                                                        probes: list[tuple[str, Path, np.ndarray]]) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    file = tmp_path / "gallery.lgb"
    code, out, err = run_cli("export", str(file), "--passphrase-file", str(secret), "--by", "19800101",
                             "--config", str(imported.config), "--db", str(imported.db))
    assert code == 0, err
    assert "25 people" in out and door_engine.model_id in out
    assert bundle.peek(file)["model_id"] == door_engine.model_id
    other_db = tmp_path / "other-kiosk.db"
    code, out, err = run_cli("import", str(file), "--bundle", "--passphrase-file", str(secret), "--by", "19790101",
                             "--config", str(imported.config), "--db", str(other_db))
    assert code == 0 and "enrolled 25 people, refused 0" in out, out + err

    source, target = Store(imported.db), Store(other_db)
    a, b = source.templates(door_engine.model_id), target.templates(door_engine.model_id)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert _decisions(source, door_engine, probes) == _decisions(target, door_engine, probes)
    record = target.person_record("Tim_Henman")
    assert record is not None and record["consent_by"] == "19800101" and record["consent_policy"] == "1"
    assert not target.kept_crops("Tim_Henman"), "crops never travel in a bundle"
    assert any(row["action"] == "bundle.import" and row["actor"] == "19790101" for row in target.audit_log())
    assert any(row["action"] == "bundle.export" for row in source.audit_log())
    assert file.read_bytes().find(a["Tim_Henman"][0].tobytes()[:64]) < 0, "templates are encrypted in the file"
    source.close()
    target.close()


def test_bundle_for_another_model_or_passphrase_is_refused(service: EnrolmentService, fp32_engine: FaceEngine,
                                                          tmp_path: Path) -> None:
    file = tmp_path / "gallery.lgb"
    people, templates = export_gallery(service, file, PASSPHRASE, "19800101")
    assert people == 25 and templates > 25
    assert fp32_engine.model_id != service.model_id
    other = Store(tmp_path / "fp32-kiosk.db")
    fp32 = EnrolmentService(other, fp32_engine, enrol_config(tmp_path))
    with pytest.raises(BundleError, match=r"holds templates of model .*int8.* this kiosk runs .*fp32"):
        import_gallery(fp32, file, PASSPHRASE, "19800101")
    assert other.enrolment_overview(fp32_engine.model_id) == []

    # The header is authenticated: claiming the other model id does not make it open.
    data = file.read_bytes().replace(service.model_id.encode(), fp32_engine.model_id.encode(), 1)
    forged = tmp_path / "forged.lgb"
    forged.write_bytes(data)
    with pytest.raises(BundleError, match="wrong passphrase, or the bundle was changed"):
        import_gallery(fp32, forged, PASSPHRASE, "19800101")
    fresh = EnrolmentService(Store(tmp_path / "fresh.db"), service.engine, enrol_config(tmp_path))
    with pytest.raises(BundleError, match="wrong passphrase"):
        import_gallery(fresh, file, "not the passphrase", "19800101")
    with pytest.raises(BundleError, match="not a LabGate gallery bundle"):
        import_gallery(fresh, tmp_path / "fp32-kiosk.db", PASSPHRASE, "19800101")
    with pytest.raises(BundleError, match="at least 12 characters"):
        export_gallery(service, tmp_path / "short.lgb", "short", "19800101")
    assert fresh.people() == [] and other.enrolment_overview(fp32_engine.model_id) == []
    other.close()
    fresh.store.close()


def test_bundle_keeps_who_is_inactive_and_which_quality_is_unknown(service: EnrolmentService,
                                                                   tmp_path: Path) -> None:
    """An inactive person stays inactive on the other kiosk (not recognised, still a duplicate to
    refuse), and a template without a measured quality (re-embedded) does not become quality 0."""
    store = service.store
    store.db.conn.execute("UPDATE people SET active = 0 WHERE number = 'Kim_Clijsters'")
    store.db.conn.execute("UPDATE templates SET quality = NULL WHERE person = 'Tim_Henman'")
    store.db.conn.commit()
    file = tmp_path / "gallery.lgb"
    export_gallery(service, file, PASSPHRASE, "19800101")
    other = EnrolmentService(Store(tmp_path / "other.db"), service.engine, enrol_config(tmp_path))
    report = import_gallery(other, file, PASSPHRASE, "19790101")
    assert len(report.enrolled) == 25 and not report.refused
    target = other.store
    record = target.person_record("Kim_Clijsters")
    assert record is not None and record["active"] is False
    assert "Kim_Clijsters" not in target.templates(service.model_id), "an inactive person is not recognised"
    assert "Kim_Clijsters" in target.face_templates(service.model_id), "but still a face to refuse as a duplicate"
    assert target.person_record("Jiang_Zemin")["active"] is True  # type: ignore[index]
    qualities = [q for _v, q, _s in target.template_rows(service.model_id, "Tim_Henman")]
    assert qualities and all(q is None for q in qualities)
    assert all(q is not None for _v, q, _s in target.template_rows(service.model_id, "Jiang_Zemin"))
    target.close()
