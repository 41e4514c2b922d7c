"""Enrolling from a photo folder (``labgate-enroll import DIR``).

The layout: ``DIR/<number>/*.jpg`` (one folder per person, named by their NIM or NIP) and an
optional ``DIR/people.csv`` with a header row and the columns ``number`` (or ``id``, ``nim``,
``nip``), ``name`` and, optionally, ``roles`` (separated by ``;``). Each photo goes through the same
gate as a door shot (``capture.judge``, the centred face); a person needs [enrol] min_photos usable
photos and then takes the one path into the gallery (``EnrolmentService.enrol``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.store import now_iso
from enroll.capture import judge, shot_quality
from enroll.outcomes import UNREADABLE, EnrolmentRefused, ImportReport, PersonOutcome, PhotoRejection
from enroll.service import EnrolmentService, valid_number
from models.datasets import image_files
from models.images import ImageError, read_image

Progress = Callable[[int, int, str], None]  # (done, total, what)
NUMBER_COLUMNS = ("number", "id", "nim", "nip")


class FolderError(ValueError):
    """The import folder or its people.csv cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Candidate:
    number: str
    name: str
    roles: tuple[str, ...]
    photos: tuple[Path, ...]


def read_folder(directory: Path, max_photos: int = 0) -> tuple[list[Candidate], list[str]]:
    """The people of an import folder, in number order, and notes on what was skipped (a folder
    that is not a number, a people.csv row without photos). ``max_photos``: the first N photos by
    name (0: all)."""
    if not directory.is_dir():
        raise FolderError(f"{directory} is not a folder; give a folder with one sub-folder of photos per person")
    names, roles, notes = _people_csv(directory / "people.csv")
    candidates = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            continue
        if not valid_number(folder.name):
            notes.append(f"{folder.name}/: skipped, a folder name must be the person's NIM or NIP "
                         "(letters, digits, '.', '_' or '-')")
            continue
        photos = image_files(folder)
        if max_photos:
            photos = photos[:max_photos]
        candidates.append(Candidate(folder.name, names.get(folder.name, ""), roles.get(folder.name, ("student",)),
                                    tuple(photos)))
    found = {c.number for c in candidates}
    notes += [f"people.csv: {number} has no photo folder" for number in sorted(set(names) - found)]
    if not candidates:
        raise FolderError(f"{directory} has no person folders (expected {directory}/<NIM or NIP>/*.jpg)")
    return candidates, notes


def _people_csv(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, ...]], list[str]]:
    if not path.is_file():
        return {}, {}, []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FolderError(f"{path} cannot be read as UTF-8 text: {exc}") from exc
    rows = list(csv.reader(text.splitlines(), dialect="excel-tab" if "\t" in text.split("\n", 1)[0] else "excel"))
    if not rows:
        return {}, {}, []
    header = [cell.strip().lower() for cell in rows[0]]
    number_column = next((header.index(c) for c in NUMBER_COLUMNS if c in header), None)
    if number_column is None or "name" not in header:
        raise FolderError(f"{path}: the first row must name the columns, e.g. `number,name` (got {rows[0]})")
    name_column = header.index("name")
    roles_column = header.index("roles") if "roles" in header else None
    names: dict[str, str] = {}
    roles: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(number_column, name_column):
            raise FolderError(f"{path}:{line}: expected at least {max(number_column, name_column) + 1} columns, "
                              f"got {row}")
        number = row[number_column].strip()
        if not valid_number(number):
            raise FolderError(f"{path}:{line}: {number!r} is not a NIM or NIP")
        if number in names:
            raise FolderError(f"{path}:{line}: {number} is listed twice")
        names[number] = row[name_column].strip()
        if roles_column is not None and len(row) > roles_column and row[roles_column].strip():
            roles[number] = tuple(r.strip() for r in row[roles_column].split(";") if r.strip())
    return names, roles, notes


@dataclass
class _Photos:
    """The usable photos of one person so far."""

    vectors: list[np.ndarray]
    quality: list[float | None]
    crops: list[np.ndarray]
    names: list[str]


def import_folder(service: EnrolmentService, directory: Path, actor: str, *, consent: bool, max_photos: int = 0,
                  progress: Progress | None = None, dry_run: bool = False) -> ImportReport:
    """Enrol everyone in ``directory``. ``consent``: the caller confirms every person agreed to the
    consent policy; it is recorded as given now, by ``actor``. Every photo not used is reported with
    its reasons; a person is refused (and reported) when too few photos pass, the photos show two
    people, or the face is already someone else's."""
    config = service.config
    if not consent:
        raise EnrolmentRefused("consent", "confirm that everyone in the folder agreed to the consent policy "
                               f"{config.consent_policy!r} (labgate-enroll import --consent)")
    candidates, notes = read_folder(directory, max_photos or config.max_photos)
    report = ImportReport(notes=notes)
    total = sum(len(c.photos) for c in candidates)
    done = 0
    pending: dict[str, np.ndarray] = {}  # people checked in a dry run, treated as enrolled
    for candidate in candidates:
        usable = _Photos([], [], [], [])
        for photo in candidate.photos:
            done += 1
            if progress is not None:
                progress(done, total, f"{candidate.number}/{photo.name}")
            rejection = _photo(service, candidate.number, photo, usable)
            if rejection is not None:
                report.rejected.append(rejection)
        report.people.append(_person(service, candidate, usable, actor, pending, dry_run))
    service.store.audit(actor, "enrol.import", folder=str(directory), people=len(report.enrolled),
                        refused=len(report.refused), photos=total, rejected_photos=len(report.rejected),
                        dry_run=dry_run, policy=config.consent_policy)
    return report


def _photo(service: EnrolmentService, number: str, photo: Path, usable: _Photos) -> PhotoRejection | None:
    """Check one photo; when it may be used, add it to ``usable`` and return None."""
    try:
        rgb = read_image(photo)
    except ImageError as exc:
        return PhotoRejection(number, photo, (UNREADABLE,), str(exc))
    judged = judge(service.photos, rgb, usable.vectors, service.config.near_identical)
    if judged.result is None or judged.result.embedding is None:
        detail = (f"same as {usable.names[judged.similar_to]}" if judged.similar_to is not None
                  else _measured(judged.measures))
        return PhotoRejection(number, photo, judged.reasons, detail)
    usable.vectors.append(judged.result.embedding)
    usable.quality.append(shot_quality(judged.measures, service.engine))
    usable.crops.append(judged.result.crop)
    usable.names.append(photo.name)
    return None


def _person(service: EnrolmentService, candidate: Candidate, usable: _Photos, actor: str,
            pending: dict[str, np.ndarray], dry_run: bool) -> PersonOutcome:
    number, name, offered, used = candidate.number, candidate.name, len(candidate.photos), len(usable.vectors)
    needed = service.config.min_photos
    if used < needed:
        return PersonOutcome(number, name, "refused", offered, used, "too_few",
                             f"{used} usable photos, {needed} needed ([enrol] min_photos)")
    vectors = np.stack(usable.vectors)
    try:
        service.enrol(number, vectors, usable.quality, actor, "import", name=name, roles=candidate.roles,
                      consent=(now_iso(), actor, service.config.consent_policy), crops=usable.crops,
                      detail={"photos": offered}, pending=pending if dry_run else None, dry_run=dry_run)
    except EnrolmentRefused as refused:
        service.store.audit(actor, "enrol.refused", number=number, kind=refused.kind, source="import",
                            collides=[c.number for c in refused.collisions])
        return PersonOutcome(number, name, "refused", offered, used, refused.kind, str(refused))
    if dry_run:
        pending[number] = vectors
    return PersonOutcome(number, name, "checked" if dry_run else "enrolled", offered, used)


def _measured(measures: dict[str, float]) -> str:
    keys = ("face_px", "sharpness", "yaw", "pitch", "brightness", "faces")
    return " ".join(f"{k}={measures[k]:.3g}" for k in keys if k in measures)
