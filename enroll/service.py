"""The enrolment service: the one place that decides what enters the gallery. The technician screen
and ``labgate-enroll`` both call it; neither holds rules of its own.

Every enrolment, from the door camera, a photo folder or a bundle, goes through ``_enrol``: the
shots must show one person (``checks.split`` at [enrol] consistency), must not match another enrolled person
(``checks.collisions`` at τ_accept, inside the write transaction), and need a recorded consent. Then
the templates of the active model replace the person's earlier ones, and their aligned crops are kept
encrypted when [enrol] keep_crops says so, until [enrol] retention_days.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from enroll import bundle, checks
from enroll.capture import NEAR_IDENTICAL, REASONS, Capture, shot_quality
from enroll.config import EnrolConfig
from enroll.crops import CropKeyError, CropVault, crop_spec
from enroll.folder import FolderError, read_folder, valid_number
from kiosk.events import iso_utc
from kiosk.logs import log
from kiosk.store import Enrolment, SealedCrop, Store, now_iso
from models.engine import FaceEngine
from models.images import ImageError, read_image
from models.quality import NO_FACE

UNREADABLE = "unreadable"
DAY_S = 86_400.0
Progress = Callable[[int, int, str], None]  # (done, total, what)


class EnrolmentRefused(Exception):
    """Nothing was saved: ``kind`` is consent | too_few | inconsistent | duplicate | invalid | crop_key; the
    message says what the technician can do. ``collisions`` names whom a duplicate matches."""

    def __init__(self, kind: str, message: str, collisions: tuple[CollisionView, ...] = (),
                 split: checks.Split | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.collisions = collisions
        self.split = split


@dataclass(frozen=True)
class CollisionView:
    number: str
    name: str
    score: float
    shots: int
    active: bool

    def describe(self) -> str:
        who = f"{self.name} ({self.number})" if self.name else self.number
        return f"{who}{'' if self.active else ', inactive'}: score {self.score:.2f}"


@dataclass(frozen=True)
class Saved:
    number: str
    model_id: str
    templates: int
    crops: int


@dataclass(frozen=True)
class RosterEntry:
    number: str
    name: str
    templates: int  # of the active model
    needs_reenrol: bool


@dataclass(frozen=True)
class PhotoRejection:
    number: str
    photo: Path
    reasons: tuple[str, ...]
    detail: str = ""

    def describe(self) -> str:
        text = "; ".join(REASONS.get(r, r) for r in self.reasons if r != UNREADABLE)
        return ", ".join(t for t in (text, self.detail) if t)


@dataclass(frozen=True)
class PersonOutcome:
    number: str
    name: str
    status: str  # enrolled | refused | checked (a dry run)
    photos: int  # photos (or templates) offered
    used: int  # photos that passed and were used
    kind: str = ""  # the refusal's kind
    message: str = ""


@dataclass
class ImportReport:
    people: list[PersonOutcome] = field(default_factory=list)
    rejected: list[PhotoRejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def enrolled(self) -> list[PersonOutcome]:
        return [p for p in self.people if p.status in ("enrolled", "checked")]

    @property
    def refused(self) -> list[PersonOutcome]:
        return [p for p in self.people if p.status == "refused"]


@dataclass(frozen=True)
class ReembedReport:
    model_id: str
    reembedded: list[str]
    needs_reenrol: dict[str, str]  # number -> why
    pruned: int = 0


def portrait_view(engine: FaceEngine) -> FaceEngine:
    """The same engine (sharing its loaded networks) choosing the centred face, as photo folders need
    (a portrait's subject is centred; at the door the nearest, largest face is)."""
    if engine.settings.face_selection == "centre":
        return engine
    view = copy.copy(engine)
    view.settings = replace(engine.settings, face_selection="centre")
    return view


class EnrolmentService:
    def __init__(self, store: Store, engine: FaceEngine, config: EnrolConfig) -> None:
        self.store, self.engine, self.config = store, engine, config
        self.photos = portrait_view(engine)
        self._vault: CropVault | None = None
        self.purge_crops("system")

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
        capture = Capture(number, (known or {}).get("name") or name.strip(), technician, self.engine,
                          self.config.min_shots, self.config.max_shots, self.config.near_identical)
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
            return self._enrol(capture.number, np.stack([s.embedding for s in shots]), [s.quality for s in shots],
                               capture.technician, "enrol:kiosk", name=capture.name, consent=capture.consent,
                               crops=[s.crop for s in shots], detail=detail)
        except EnrolmentRefused as refused:
            self.store.audit(capture.technician, "enrol.refused", number=capture.number, kind=refused.kind,
                             collides=[c.number for c in refused.collisions], **detail)
            raise

    # -- the one path into the gallery ---------------------------------------------------------------
    def _enrol(self, number: str, vectors: np.ndarray, quality: list[float | None], actor: str, source: str, *,
               name: str = "", roles: tuple[str, ...] = ("student",), pin_hash: str | None = None,
               consent: tuple[str, str, str] | None, crops: list[np.ndarray] | None,
               detail: dict[str, Any] | None = None, pending: dict[str, np.ndarray] | None = None,
               dry_run: bool = False) -> Saved:
        """Check and save one person's templates. ``pending``: people checked earlier in a dry run, to
        be treated as enrolled."""
        vectors = _checked_vectors(number, vectors, self.engine.embedder.manifest.embedding_size)
        thresholds = self.engine.thresholds
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
            found = checks.collisions(vectors, {**gallery, **(pending or {})}, thresholds.accept)
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
        sealed: tuple[SealedCrop, ...] | None = None
        if crops is not None:
            sealed = ()
            if self.config.keep_crops:
                spec = crop_spec(self.engine.embedder.manifest.alignment, self.engine.embedder.size)
                expires = iso_utc(time.time() + self.config.retention_days * DAY_S)
                try:
                    vault = self.vault()
                    sealed = tuple(SealedCrop(s.key_id, s.nonce, s.ciphertext, expires)
                                   for s in (vault.seal(number, crop, spec) for crop in crops))
                except (CropKeyError, OSError, ValueError) as exc:
                    raise EnrolmentRefused("crop_key", f"{number}: the face crops cannot be encrypted ({exc}); "
                                           "fix [enrol] key_file or set keep_crops = false") from exc
        count = self.store.save_enrolment(Enrolment(
            number, self.model_id, vectors, list(quality), source, actor, name=name, roles=roles, pin_hash=pin_hash,
            consent=consent, crops=sealed, detail=detail), check)
        log("enrolled", number=number, templates=count, crops=len(sealed or ()), source=source, actor=actor)
        self.store.purge_crops("system")  # retention: others' crops that expired meanwhile
        return Saved(number, self.model_id, count, len(sealed or ()))

    def _view(self, collision: checks.Collision) -> CollisionView:
        record = self.store.person_record(collision.number) or {}
        return CollisionView(collision.number, record.get("name", ""), collision.score, collision.shots,
                             bool(record.get("active", True)))

    # -- photo folders ------------------------------------------------------------------------------
    def import_folder(self, directory: Path, actor: str, *, consent: bool, max_photos: int = 0,
                      progress: Progress | None = None, dry_run: bool = False) -> ImportReport:
        """Enrol everyone in ``DIR/<number>/*.jpg`` (see ``enroll.folder``). ``consent``: the caller
        confirms every person agreed to the consent policy; it is recorded as given now, by ``actor``.
        Every photo not used is reported with its reasons; a person is refused (and reported) when no
        photo passes, the photos show two people, or the face is already someone else's."""
        if not consent:
            raise EnrolmentRefused("consent", "confirm that everyone in the folder agreed to the consent policy "
                                   f"{self.config.consent_policy!r} (labgate-enroll import --consent)")
        candidates, notes = read_folder(directory, max_photos or self.config.max_photos)
        report = ImportReport(notes=notes)
        total = sum(len(c.photos) for c in candidates)
        done = 0
        pending: dict[str, np.ndarray] = {}
        for candidate in candidates:
            vectors: list[np.ndarray] = []
            quality: list[float | None] = []
            crops: list[np.ndarray] = []
            names: list[str] = []
            for photo in candidate.photos:
                done += 1
                if progress is not None:
                    progress(done, total, f"{candidate.number}/{photo.name}")
                rejection = self._photo(candidate.number, photo, vectors, quality, crops, names)
                if rejection is not None:
                    report.rejected.append(rejection)
            outcome = self._import_person(candidate.number, candidate.name, candidate.roles, vectors, quality, crops,
                                          len(candidate.photos), actor, pending, dry_run)
            report.people.append(outcome)
        self.store.audit(actor, "enrol.import", folder=str(directory), people=len(report.enrolled),
                         refused=len(report.refused), photos=total, rejected_photos=len(report.rejected),
                         dry_run=dry_run, policy=self.config.consent_policy)
        return report

    def _photo(self, number: str, photo: Path, vectors: list[np.ndarray], quality: list[float | None],
               crops: list[np.ndarray], names: list[str]) -> PhotoRejection | None:
        """Check one photo; when it passes, append what enrolment needs and return None."""
        try:
            rgb = read_image(photo)
        except ImageError as exc:
            return PhotoRejection(number, photo, (UNREADABLE,), str(exc))
        results = self.photos.analyse(rgb, embed="passing")
        if not results:
            return PhotoRejection(number, photo, (NO_FACE,))
        main = results[0]
        if not main.quality.ok or main.embedding is None:
            return PhotoRejection(number, photo, main.quality.reasons, _measured(main.quality.measures))
        earlier = checks.near_identical(main.embedding, vectors, self.config.near_identical)
        if earlier is not None:
            return PhotoRejection(number, photo, (NEAR_IDENTICAL,), f"same as {names[earlier]}")
        vectors.append(main.embedding)
        quality.append(shot_quality(main.quality.measures, self.engine))
        crops.append(main.crop)
        names.append(photo.name)
        return None

    def _import_person(self, number: str, name: str, roles: tuple[str, ...], vectors: list[np.ndarray],
                       quality: list[float | None], crops: list[np.ndarray], offered: int, actor: str,
                       pending: dict[str, np.ndarray], dry_run: bool) -> PersonOutcome:
        if len(vectors) < self.config.min_photos:
            return PersonOutcome(number, name, "refused", offered, len(vectors), "too_few",
                                 f"{len(vectors)} usable photos, {self.config.min_photos} needed")
        consent = (now_iso(), actor, self.config.consent_policy)
        try:
            self._enrol(number, np.stack(vectors), quality, actor, "import", name=name, roles=roles, consent=consent,
                        crops=crops, detail={"photos": offered}, pending=pending if dry_run else None,
                        dry_run=dry_run)
        except EnrolmentRefused as refused:
            self.store.audit(actor, "enrol.refused", number=number, kind=refused.kind, source="import",
                             collides=[c.number for c in refused.collisions])
            return PersonOutcome(number, name, "refused", offered, len(vectors), refused.kind, str(refused))
        if dry_run:
            pending[number] = np.stack(vectors)
        return PersonOutcome(number, name, "checked" if dry_run else "enrolled", offered, len(vectors))

    # -- erasure and retention -----------------------------------------------------------------------
    def remove(self, number: str, actor: str) -> dict[str, int] | None:
        """Erase a person's face data, PIN and record (see ``Store.erase_person``); None when unknown."""
        erased = self.store.erase_person(number, actor)
        if erased is not None:
            log("person_erased", number=number, actor=actor, **erased)
        return erased

    def purge_crops(self, actor: str) -> int:
        """Delete crops past their retention time, or every crop when [enrol] keep_crops is off."""
        gone = self.store.purge_crops(actor, everything=not self.config.keep_crops)
        if gone:
            log("crops_purged", crops=gone, keep_crops=self.config.keep_crops)
        return gone

    # -- a new model ---------------------------------------------------------------------------------
    def reembed(self, actor: str, prune: bool = False) -> ReembedReport:
        """Give everyone enrolled under another model templates of the active one, from their kept crops;
        people without usable crops are marked "needs re-enrolment". Models are never mixed: the new
        templates come only from the active model. ``prune`` deletes other models' templates."""
        done: list[str] = []
        missing: dict[str, str] = {}
        for person in self.store.enrolment_overview(self.model_id):
            if person["templates"] or not (person["other_templates"] or person["crops"] or person["needs_reenrol"]):
                continue
            number = person["number"]
            try:
                vectors, quality = self._from_crops(number)
                if not len(vectors):
                    raise EnrolmentRefused("too_few", "no kept crops (re-enrol at the door)")
                self._enrol(number, vectors, quality, actor, f"reembed:{self.model_id}", consent=None, crops=None,
                            detail={"from": "crops"})
                done.append(number)
            except (EnrolmentRefused, CropKeyError) as why:
                self.store.set_needs_reenrol(number, actor, self.model_id)
                missing[number] = str(why)
        pruned = self.store.drop_other_models(self.model_id, actor) if prune else 0
        self.store.audit(actor, "enrol.reembed", model_id=self.model_id, reembedded=len(done),
                         needs_reenrol=len(missing), pruned=pruned)
        return ReembedReport(self.model_id, done, missing, pruned)

    def _from_crops(self, number: str) -> tuple[np.ndarray, list[float | None]]:
        sealed = self.store.kept_crops(number)
        if not sealed:
            return np.zeros((0, self.engine.embedder.manifest.embedding_size), np.float32), []
        vault = self.vault()
        spec = crop_spec(self.engine.embedder.manifest.alignment, self.engine.embedder.size)
        crops: list[np.ndarray] = []
        quality: list[float | None] = []
        for item in sealed:
            crop, old_spec = vault.open(number, item.key_id, item.nonce, item.ciphertext)
            if old_spec != spec:  # the new model cuts faces differently: find the face in the kept crop again
                results = self.photos.analyse(crop, embed="none")
                if not results:
                    continue
                crop = results[0].crop
            crops.append(crop)
            quality.append(None)
        if not crops:
            return np.zeros((0, self.engine.embedder.manifest.embedding_size), np.float32), []
        return self.engine.embedder.embed_crops(np.stack(crops)), quality

    # -- bundles between kiosks ----------------------------------------------------------------------
    def export_bundle(self, path: Path, passphrase: str, actor: str,
                      numbers: list[str] | None = None) -> tuple[int, int]:
        """Write the people with templates of the active model (or only ``numbers``) to an encrypted
        bundle; returns (people, templates)."""
        wanted = set(numbers or [])
        people = []
        for person in self.store.enrolment_overview(self.model_id):
            if not person["templates"] or (wanted and person["number"] not in wanted):
                continue
            record = self.store.person_record(person["number"]) or {}
            rows = self.store.template_rows(self.model_id, person["number"])
            consent = record.get("consent_at")
            people.append(bundle.BundlePerson(
                person["number"], record.get("name", ""), tuple(record.get("roles", ())), record.get("pin_hash"),
                bool(record.get("active", True)),
                (consent, record.get("consent_by") or "", record.get("consent_policy") or "") if consent else None,
                np.stack([r[0] for r in rows]), [r[1] if r[1] is not None else 0.0 for r in rows], "bundle"))
        unknown = wanted - {p.number for p in people}
        if unknown:
            raise EnrolmentRefused("invalid", f"no templates of {self.model_id} for {', '.join(sorted(unknown))}")
        size = bundle.write(path, bundle.Bundle(self.model_id, self.engine.embedder.manifest.embedding_size,
                                                now_iso(), people), passphrase)
        templates = sum(len(p.vectors) for p in people)
        self.store.audit(actor, "bundle.export", file=path.name, people=len(people), templates=templates,
                         model_id=self.model_id, bytes=size)
        return len(people), templates

    def import_bundle(self, path: Path, passphrase: str, actor: str) -> ImportReport:
        """Enrol a bundle's people through the same checks as any enrolment; a bundle for another model
        id is refused whole (``bundle.BundleError``)."""
        opened = bundle.read(path, passphrase, self.model_id)
        report = ImportReport()
        for person in opened.people:
            try:
                self._enrol(person.number, person.vectors, list(person.quality), actor, "bundle", name=person.name,
                            roles=person.roles, pin_hash=person.pin_hash, consent=person.consent, crops=[],
                            detail={"bundle": path.name})
                report.people.append(PersonOutcome(person.number, person.name, "enrolled", len(person.vectors),
                                                   len(person.vectors)))
            except EnrolmentRefused as refused:
                report.people.append(PersonOutcome(person.number, person.name, "refused", len(person.vectors), 0,
                                                   refused.kind, str(refused)))
        self.store.audit(actor, "bundle.import", file=path.name, model_id=opened.model_id,
                         people=len(report.enrolled), refused=len(report.refused))
        return report


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


def _measured(measures: dict[str, float]) -> str:
    keys = ("face_px", "sharpness", "yaw", "pitch", "brightness", "faces")
    return " ".join(f"{k}={measures[k]:.3g}" for k in keys if k in measures)


__all__ = ["EnrolmentRefused", "EnrolmentService", "FolderError", "ImportReport", "PhotoRejection"]
