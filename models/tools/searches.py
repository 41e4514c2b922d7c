"""Open-set searches on a folder-per-person set: enrol some photos of each person, search with the
rest and with strangers, exactly as the kiosk matches (its gallery, its decision rule).

Every photo is detected and embedded once (``PeopleSet``); any number of enrolment choices can then
be searched (``search``): one for ``evaluate people``, many random ones for ``calibrate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.datasets import IMAGE_SUFFIXES, people
from models.decision import Decision, decide
from models.engine import FaceEngine
from models.evaluation import crop_faces, find_faces
from models.gallery import Gallery
from models.runtime import Thresholds
from models.tools.progress import bar

STRANGER = -1  # truth of a probe of nobody enrolled
NOT_ENROLLED = -2  # truth of a probe whose person has no usable enrolment photo


@dataclass
class PeopleSet:
    """Photos by person plus strangers' photos, each embedded once (or listed as a failure)."""

    people: dict[str, list[Path]]
    strangers: list[Path]
    embeddings: dict[Path, np.ndarray]
    failures: dict[Path, str]
    held_out: list[str]  # people of ``known`` used as strangers (when there was no unknown folder)
    description: str
    known: Path
    unknown: Path | None
    crops: dict[Path, np.ndarray] = field(default_factory=dict)  # embedder crops, when kept (walk-ups)

    def embedding(self, path: Path) -> np.ndarray | None:
        return self.embeddings.get(path)


def stranger_photos(directory: Path) -> list[Path]:
    """Images directly in ``directory`` and in its sub-folders (strangers need no labels)."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def held_out_people(names: list[str], count: int) -> list[str]:
    """``count`` people spread evenly over the sorted list, to serve as strangers."""
    if count <= 0:
        return []
    if count >= len(names):
        raise ValueError(f"cannot hold out {count} of {len(names)} people as strangers: nobody would be enrolled")
    ordered = sorted(names)
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, count + 2)[1:-1]).astype(int))
    return [ordered[i] for i in picks]


def load_people(engine: FaceEngine, known: Path, unknown: Path | None = None, hold_out: int = 0,
                keep_crops: bool = False) -> PeopleSet:
    """Detect, crop and embed every photo of ``known`` (a folder per person) and the strangers (their
    embedder crops kept too with ``keep_crops``)."""
    found = people(known)
    if not found:
        raise ValueError(f"{known} has no person folders with images (expected {known}/<person>/*.jpg)")
    held = held_out_people(list(found), hold_out)
    strangers = [p for name in held for p in found.pop(name)]
    if unknown is not None:
        if not unknown.is_dir():
            raise ValueError(f"unknown {unknown} is not a folder of stranger photos")
        strangers += stranger_photos(unknown)
    paths = [p for photos in found.values() for p in photos] + strangers
    faces = find_faces(engine, paths, bar("faces"))
    crops = crop_faces(faces, engine.embedder.manifest.alignment, engine.embedder.size)
    vectors = embed(engine, crops.crops)
    where = f"{known} ({len(found)} people, {sum(map(len, found.values()))} photos)"
    if held:
        where += f", {len(held)} people of it held out as strangers"
    if unknown is not None:
        where += f", strangers from {unknown}"
    return PeopleSet(found, strangers, dict(zip(crops.paths, vectors, strict=True)), crops.failures, held,
                     f"{where}: {len(strangers)} stranger photos", known, unknown,
                     dict(zip(crops.paths, crops.crops, strict=True)) if keep_crops else {})


def embed(engine: FaceEngine, crops: np.ndarray, chunk: int = 64) -> np.ndarray:
    """The run-time embeddings of crops, with a progress bar."""
    starts = range(0, len(crops), chunk)
    parts = [engine.embedder.embed_crops(crops[i:i + chunk]) for i in bar("embeddings", unit="batch")(starts)]
    return np.concatenate(parts) if parts else np.zeros((0, engine.embedder.manifest.embedding_size), np.float32)


@dataclass
class Searches:
    """One enrolment of a people set and every search against it."""

    gallery: Gallery
    columns: list[str]  # enrolled people, in the gallery's (score column) order
    enrolled: dict[str, list[Path]]  # the enrolment photos that had a face
    probes: list[Path]
    truth: np.ndarray  # per probe: its person's column, STRANGER, or NOT_ENROLLED
    names: list[str | None]  # per probe: its person, or None for a stranger
    scores: np.ndarray  # (probes, people) best score per person; NaN rows for probes without a face
    embeddings: list[np.ndarray | None]

    def decisions(self, thresholds: Thresholds) -> list[Decision | None]:
        """The kiosk's decision on each probe (None when the photo had no face)."""
        return [None if e is None else decide(self.gallery.match(e, self.gallery.model_id), thresholds)
                for e in self.embeddings]


def first_photos(photos: PeopleSet, k: int) -> dict[str, list[Path]]:
    """Enrol each person's first ``k`` photos (sorted by name), as ``labgate-models demo`` does."""
    return {person: paths[:k] for person, paths in photos.people.items()}


def random_photos(photos: PeopleSet, k: int, rng: np.random.Generator) -> dict[str, list[Path]]:
    return {person: [paths[i] for i in sorted(rng.choice(len(paths), size=min(k, len(paths)), replace=False))]
            for person, paths in photos.people.items()}


def search(engine: FaceEngine, photos: PeopleSet, enrol: dict[str, list[Path]]) -> Searches:
    """Enrol ``enrol`` into a fresh gallery; search with every other photo of each person and with
    every stranger."""
    gallery = engine.new_gallery()
    enrolled: dict[str, list[Path]] = {}
    for person, paths in enrol.items():
        usable = [p for p in paths if p in photos.embeddings]
        if usable:
            gallery.add(person, np.stack([photos.embeddings[p] for p in usable]), engine.model_id)
            enrolled[person] = usable
    columns = gallery.people
    column = {person: i for i, person in enumerate(columns)}
    probes: list[Path] = []
    names: list[str | None] = []
    for person, paths in photos.people.items():
        chosen = set(enrol.get(person, []))
        for path in paths:
            if path not in chosen:
                probes.append(path)
                names.append(person)
    probes += photos.strangers
    names += [None] * len(photos.strangers)
    truth = np.array([STRANGER if n is None else column.get(n, NOT_ENROLLED) for n in names], dtype=np.int64)
    vectors = [photos.embedding(p) for p in probes]
    scores = np.full((len(probes), len(columns)), np.nan)
    answered = [i for i, v in enumerate(vectors) if v is not None]
    if answered and columns:
        matrix = np.stack([v for v in vectors if v is not None])
        scores[answered] = gallery.scores(matrix, engine.model_id)
    return Searches(gallery, columns, enrolled, probes, truth, names, scores, vectors)

