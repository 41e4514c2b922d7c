"""A model change (``labgate-enroll reembed``): everyone enrolled under another model gets templates
of the active one from their kept crops, through the one path into the gallery; people without
usable crops are marked "needs re-enrolment". Models are never mixed: the new templates come only
from the active model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from enroll.crops import CropKeyError, crop_spec
from enroll.outcomes import EnrolmentRefused
from enroll.service import EnrolmentService


@dataclass(frozen=True)
class ReembedReport:
    model_id: str
    reembedded: list[str]
    needs_reenrol: dict[str, str]  # number -> why
    pruned: int = 0


def reembed(service: EnrolmentService, actor: str, prune: bool = False) -> ReembedReport:
    """Re-embed who needs it; ``prune`` then deletes every other model's templates."""
    store, model_id = service.store, service.model_id
    done: list[str] = []
    missing: dict[str, str] = {}
    for person in store.enrolment_overview(model_id):
        if person["templates"] or not (person["other_templates"] or person["crops"] or person["needs_reenrol"]):
            continue
        number = person["number"]
        try:
            crops = _kept_crops(service, number)
            if not crops:
                raise EnrolmentRefused("too_few", "no kept crops (re-enrol at the door)")
            vectors = service.engine.embedder.embed_crops(np.stack(crops))
            service.enrol(number, vectors, [None] * len(crops), actor, f"reembed:{model_id}", consent=None,
                          crops=None, detail={"from": "crops"})
            done.append(number)
        except (EnrolmentRefused, CropKeyError) as why:
            store.set_needs_reenrol(number, actor, model_id)
            missing[number] = str(why)
    pruned = store.drop_other_models(model_id, actor) if prune else 0
    store.audit(actor, "enrol.reembed", model_id=model_id, reembedded=len(done), needs_reenrol=len(missing),
                pruned=pruned)
    return ReembedReport(model_id, done, missing, pruned)


def _kept_crops(service: EnrolmentService, number: str) -> list[np.ndarray]:
    """The person's kept crops, cut as the active embedder takes them (a crop cut for another
    embedder is searched for the face again)."""
    sealed = service.store.kept_crops(number)
    if not sealed:
        return []
    vault = service.vault()
    embedder = service.engine.embedder
    spec = crop_spec(embedder.manifest.alignment, embedder.size)
    crops = []
    for item in sealed:
        crop, old_spec = vault.open(number, item.key_id, item.nonce, item.ciphertext)
        if old_spec != spec:
            results = service.photos.analyse(crop, embed="none")
            if not results:
                continue
            crop = results[0].crop
        crops.append(crop)
    return crops
