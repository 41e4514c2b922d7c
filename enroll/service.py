"""The enrolment service: the one place that decides what enters the gallery and how a person leaves
it. The technician screen and ``labgate-enroll`` both call it; neither holds rules of its own.

Every enrolment, from the door camera (``capture``), a photo folder (``folder.import_folder``), a
bundle (``bundle.import_gallery``) or kept crops after a model change (``reembed.reembed``), goes
through ``enrol`` (those modules build on this one; it imports none of them): the shots must
show one person (``checks.split`` at [enrol] consistency), must not match another enrolled person
(``models.duplicates`` at τ_accept, inside the write transaction), and need a recorded consent. Then
the templates of the active model replace the person's earlier ones, and their aligned crops are
kept encrypted when [enrol] keep_crops says so, until [enrol] retention_days (``retention``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from device.events import iso_utc
from device.logs import log
from device.store import WIPE_WAIT_S, Enrolment, Erased, SealedCrop, Store, now_iso
from enroll import checks, retention
from enroll.capture import Capture
from enroll.config import EnrolConfig
from enroll.crops import CropKeyError, CropVault, crop_spec
from enroll.outcomes import CollisionView, EnrolmentRefused, ImportReport, PhotoRejection, Saved
from models.duplicates import Collision, collisions
from models.engine import FaceEngine
from models.enrolment import photo_view
from models.liveness import LivenessChecker

DAY_S = 86_400.0
NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")  # a NIM or NIP


@dataclass(frozen=True)
class RosterEntry:
    number: str
    name: str
    templates: int  # of the active model
    needs_reenrol: bool


def valid_number(number: str) -> bool:
    """A NIM or NIP as the store keeps it: a letter or digit, then up to 39 of letters, digits, '.', '_', '-'."""
    return bool(NUMBER.match(number))


portrait_view = photo_view  # the photo rules every enrolment shares (models.enrolment)


class EnrolmentService:
    def __init__(self, store: Store, engine: FaceEngine, config: EnrolConfig,
                 liveness: LivenessChecker | None = None) -> None:
        self.store, self.engine, self.config = store, engine, config
        self.liveness = liveness  # the door's liveness check: guided shots judged an attack are refused
        self.photos = portrait_view(engine)
        self._vault: CropVault | None = None

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    def vault(self) -> CropVault:
        """The crop key (created, mode 600, only when crops are to be kept)."""
        if self._vault is None:
            self._vault = CropVault(self.config.key_file, create=self.config.keep_crops)
        return self._vault

    # -- who is there --------------------------------------------------------------------------------
    def roster(self, query: str = "") -> list[RosterEntry]:
        """People in the device store (the server's roster, once sync brought it), matching ``query`` in
        number or name; people without a face for the active model first."""
        words = query.strip().lower()
        entries = [RosterEntry(p["number"], p["name"], p["templates"], p["needs_reenrol"])
                   for p in self.store.enrolment_overview(self.model_id)
                   if p["active"] and (not words or words in p["number"].lower() or words in p["name"].lower())]
        return sorted(entries, key=lambda e: (e.templates > 0, e.number))

    def people(self) -> list[dict[str, Any]]:
        return self.store.enrolment_overview(self.model_id)

    # -- the guided capture at the door --------------------------------------------------------------
    def begin(self, number: str, technician: str, name: str = "") -> Capture:
        number = number.strip()
        if not valid_number(number):
            raise EnrolmentRefused("invalid", f"{number!r} is not a NIM or NIP (letters, digits, '.', '_', '-')")
        known = self.store.person_record(number)
        capture = Capture(number, (known or {}).get("name") or name.strip(), technician, self.engine, self.config,
                          self.liveness)
        self.store.audit(technician, "enrol.start", number=number, model_id=self.model_id, known=known is not None)
        return capture

    def record_consent(self, capture: Capture) -> None:
        """The person agreed to the consent policy ([enrol] consent_policy); the technician records it."""
        capture.consent = (now_iso(), capture.technician, self.config.consent_policy)
        self.store.audit(capture.technician, "enrol.consent", number=capture.number,
                         policy=self.config.consent_policy)

    def cancel(self, capture: Capture) -> None:
        self.store.audit(capture.technician, "enrol.cancel", number=capture.number, shots=len(capture.shots))
        capture.discard()

    def save(self, capture: Capture) -> Saved:
        """Check the capture's shots and save them; ``EnrolmentRefused`` (audited) when they may not be."""
        detail = {"shots": len(capture.shots), "rejected": dict(capture.rejected)}
        try:
            if capture.consent is None:
                raise EnrolmentRefused("consent", "record the person's consent before saving")
            if not capture.ready:
                raise EnrolmentRefused("too_few", f"{len(capture.shots)} shots taken, {capture.min_shots} needed")
            shots = capture.shots
            return self.enrol(capture.number, np.stack([s.embedding for s in shots]), [s.quality for s in shots],
                              capture.technician, "enrol:kiosk", name=capture.name, consent=capture.consent,
                              crops=[s.crop for s in shots], detail=detail)
        except EnrolmentRefused as refused:
            self.store.audit(capture.technician, "enrol.refused", number=capture.number, kind=refused.kind,
                             collides=[c.number for c in refused.collisions], **detail)
            raise

    # -- the one path into the gallery ---------------------------------------------------------------
    def enrol(self, number: str, vectors: np.ndarray, quality: list[float | None], actor: str, source: str, *,
              name: str = "", roles: tuple[str, ...] = ("student",), pin_hash: str | None = None,
              active: bool = True, consent: tuple[str, str, str] | None, crops: list[np.ndarray] | None,
              detail: dict[str, Any] | None = None, pending: dict[str, np.ndarray] | None = None,
              dry_run: bool = False) -> Saved:
        """Check and save one person's templates of the active model (``EnrolmentRefused`` when they may
        not be). ``name``, ``roles``, ``pin_hash`` and ``active`` apply to a new person. ``crops``: the
        aligned crops to keep (when [enrol] keep_crops), None to leave kept ones as they are.
        ``pending``: people checked earlier in a dry run, to be treated as enrolled."""
        vectors = _checked_vectors(number, vectors, self.engine.embedder.manifest.embedding_size)
        if consent is None and self.store.person_record(number) is None:
            raise EnrolmentRefused("consent", f"{number}: no consent recorded")
        parted = checks.split(vectors, self.config.consistency)
        if parted is not None:
            raise EnrolmentRefused(
                "inconsistent",
                f"{number}: the shots show two different people (shots {_ones(parted.first)} and "
                f"{_ones(parted.second)} match at {parted.similarity:.2f}, below {self.config.consistency:.2f}); "
                "nothing saved, take the shots again", split=parted)

        def check(gallery: dict[str, np.ndarray]) -> None:
            others = {**gallery, **(pending or {})}
            thresholds = self.engine.thresholds_for(len(others))  # the kiosk's τ for the gallery it holds
            found = collisions(vectors, others, thresholds.accept)
            if found:
                views = tuple(self._view(c) for c in found)
                raise EnrolmentRefused(
                    "duplicate",
                    f"{number}: the face is already enrolled as " + "; ".join(v.describe() for v in views)
                    + f" (τ_accept {thresholds.accept:.2f}); nothing saved. Remove that enrolment first if it is "
                    "wrong, or use the fallback (NIM + PIN) for this person", views)

        if dry_run:
            check(self.store.face_templates(self.model_id, exclude=number))
            return Saved(number, self.model_id, len(vectors), 0)
        sealed = None if crops is None else self._seal(number, crops)
        count = self.store.save_enrolment(Enrolment(
            number, self.model_id, vectors, list(quality), source, actor, name=name, roles=roles, pin_hash=pin_hash,
            consent=consent, crops=sealed, detail=detail, active=active), check)
        log("enrolled", number=number, templates=count, crops=len(sealed or ()), source=source, actor=actor)
        return Saved(number, self.model_id, count, len(sealed or ()))

    def _seal(self, number: str, crops: list[np.ndarray]) -> tuple[SealedCrop, ...]:
        """The crops encrypted for keeping, or none when [enrol] keep_crops is off."""
        if not self.config.keep_crops:
            return ()
        spec = crop_spec(self.engine.embedder.manifest.alignment, self.engine.embedder.size)
        expires = iso_utc(time.time() + self.config.retention_days * DAY_S)
        try:
            vault = self.vault()
            return tuple(SealedCrop(s.key_id, s.nonce, s.ciphertext, expires)
                         for s in (vault.seal(number, crop, spec) for crop in crops))
        except (CropKeyError, OSError, ValueError) as exc:
            raise EnrolmentRefused("crop_key", f"{number}: the face crops cannot be encrypted ({exc}); "
                                   "fix [enrol] key_file or set keep_crops = false") from exc

    def _view(self, collision: Collision) -> CollisionView:
        record = self.store.person_record(collision.person) or {}
        return CollisionView(collision.person, record.get("name", ""), collision.score, collision.shots,
                             bool(record.get("active", True)))

    # -- erasure and retention -----------------------------------------------------------------------
    def remove(self, number: str, actor: str, wait_s: float = WIPE_WAIT_S) -> Erased | None:
        """Erase a person's face data, PIN and record (``Store.erase_person``); None when unknown.
        ``wiped`` False: erased, but readers kept old copies in the WAL for ``wait_s``; the wipe stays
        pending (``wipe``, the kiosk's retention thread, ``labgate-enroll purge``)."""
        erased = self.store.erase_person(number, actor, wait_s)
        if erased is not None:
            log("person_erased", number=number, actor=actor, templates=erased.templates, crops=erased.crops,
                wiped=erased.wiped)
        return erased

    def wipe(self, wait_s: float = WIPE_WAIT_S) -> bool:
        """Wipe deleted data from the database file and WAL now (``Store.wipe``); True when done."""
        return self.store.wipe(wait_s)

    def wipe_pending(self) -> int:
        """Deletions whose wipe readers held back so far (0: nothing of the erased is left on disk)."""
        return self.store.wipe_pending()

    def purge_crops(self, actor: str, wait_s: float = WIPE_WAIT_S) -> int:
        """Apply the retention rule (``retention.purge_crops``)."""
        return retention.purge_crops(self.store, self.config, actor, wait_s)


def _checked_vectors(number: str, vectors: np.ndarray, size: int) -> np.ndarray:
    matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if matrix.shape[0] == 0:
        raise EnrolmentRefused("too_few", f"{number}: no templates to save")
    if matrix.shape[1] != size:
        raise EnrolmentRefused("invalid", f"{number}: templates have {matrix.shape[1]} dimensions, the model {size}")
    norms = np.linalg.norm(matrix, axis=1)
    if not np.isfinite(matrix).all() or np.abs(norms - 1).max() > 1e-3:
        raise EnrolmentRefused("invalid", f"{number}: templates are not L2-normalised embeddings")
    return matrix


def _ones(indices: tuple[int, ...]) -> str:
    return ", ".join(str(i + 1) for i in indices)


__all__ = ["CollisionView", "EnrolmentRefused", "EnrolmentService", "ImportReport", "PhotoRejection", "RosterEntry",
           "Saved", "portrait_view", "valid_number"]
