"""A model change: `reembed` gives every person with kept crops templates of the new model (and they
are recognised under it); people without crops are marked "needs re-enrolment"; the two models'
templates never mix."""

from __future__ import annotations

from pathlib import Path

import pytest

from enroll.reembed import reembed
from enroll.service import EnrolmentService, portrait_view
from models.engine import FaceEngine
from models.images import read_image
from tests.enroll.conftest import ENROL_PHOTOS, enrol_config

pytestmark = pytest.mark.data


def test_reembed_from_kept_crops_or_mark_for_reenrolment(service: EnrolmentService, fp32_engine: FaceEngine,
                                                         known: dict[str, list[Path]], tmp_path: Path) -> None:
    store = service.store
    old = service.model_id
    old_templates = store.templates(old)
    store.db.conn.execute("DELETE FROM crops WHERE person = 'Tim_Henman'")  # as if enrolled with keep_crops off
    store.db.conn.commit()

    new = EnrolmentService(store, fp32_engine, enrol_config(tmp_path))
    assert new.model_id != old and store.templates(new.model_id) == {}
    report = reembed(new, "19800101")
    assert report.needs_reenrol.keys() == {"Tim_Henman"} and "no kept crops" in report.needs_reenrol["Tim_Henman"]
    assert sorted(report.reembedded) == sorted(set(known) - {"Tim_Henman"})
    overview = {p["number"]: p for p in new.people()}
    assert overview["Tim_Henman"]["needs_reenrol"] and overview["Tim_Henman"]["templates"] == 0
    assert not overview["Kim_Clijsters"]["needs_reenrol"]

    # Never mixed: the old model's templates are untouched, the new ones come from the new model only.
    after = store.templates(old)
    assert all((after[k] == old_templates[k]).all() for k in old_templates)
    sources = {row[0] for row in store.db.conn.execute("SELECT DISTINCT source FROM templates WHERE model_id = ?",
                                                       (new.model_id,))}
    assert sources == {f"reembed:{new.model_id}"}
    for person in report.reembedded:
        assert len(store.kept_crops(person)) == len(store.template_rows(new.model_id, person))

    # Recognised under the new model: the next two photos of each re-embedded person.
    gallery = fp32_engine.new_gallery()
    for person, vectors in store.templates(new.model_id).items():
        gallery.add(person, vectors, new.model_id)
    photos = portrait_view(fp32_engine)
    trials = [(person, path) for person in report.reembedded for path in known[person][ENROL_PHOTOS:ENROL_PHOTOS + 2]]
    hits = 0
    for person, path in trials:
        embedding = photos.embed_photo(read_image(path), check_quality=False).embedding
        hits += gallery.match(embedding, new.model_id, top=1)[0].person == person
    print(f"\nafter re-embedding for {new.model_id}: rank-1 {hits}/{len(trials)}")
    assert hits / len(trials) >= 0.95

    # A second run has nothing to do; --prune drops the old model's templates.
    again = reembed(new, "19800101", prune=True)
    assert again.reembedded == [] and set(again.needs_reenrol) == {"Tim_Henman"}
    assert again.pruned == sum(len(v) for v in old_templates.values())
    assert store.templates(old) == {}
    actions = [row["action"] for row in store.audit_log(500)]
    assert "enrol.reembed" in actions and "enrol.needs_reenrol" in actions
