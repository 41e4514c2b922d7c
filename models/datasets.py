"""Readers for labelled face sets: LFW-style pairs files and folder-per-person collections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


def image_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def lfw_image(images: Path, name: str, number: int) -> Path:
    """LFW's image for (name, number), in ``Name/Name_NNNN.jpg`` folders or flat ``Name_NNNN.jpg``."""
    file_name = f"{name}_{number:04d}.jpg"
    nested = images / name / file_name
    return nested if nested.exists() else images / file_name


def lfw_pairs(pairs_file: Path, images: Path) -> list[Pair]:
    """Pairs in LFW's pairs.txt format (``name i j`` same, ``name1 i name2 j`` different).

    An optional header ``FOLDS N`` splits the list into FOLDS blocks of N same then N different pairs
    (the standard 10-fold protocol); without it everything is fold 0.
    """
    lines = [line.split() for line in pairs_file.read_text().splitlines() if line.strip()]
    per_fold = None
    if lines and len(lines[0]) == 2 and all(x.isdigit() for x in lines[0]):
        per_fold = 2 * int(lines[0][1])
        lines = lines[1:]
    pairs = []
    for row_number, fields in enumerate(lines):
        fold = row_number // per_fold if per_fold else 0
        if len(fields) == 3:
            a, b, same = (fields[0], fields[1]), (fields[0], fields[2]), True
        elif len(fields) == 4:
            a, b, same = (fields[0], fields[1]), (fields[2], fields[3]), False
        else:
            raise ValueError(f"{pairs_file}:{row_number + 1}: expected 3 or 4 fields, got {fields}")
        pairs.append(Pair(lfw_image(images, a[0], int(a[1])), lfw_image(images, b[0], int(b[1])), same, fold))
    return pairs


def people(directory: Path) -> dict[str, list[Path]]:
    """``directory/<person>/*.jpg`` as {person: sorted image paths}; empty folders are left out."""
    found = {}
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        files = image_files(folder)
        if files:
            found[folder.name] = files
    return found


LABELS = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False,
          "same": True, "different": False}


def table_pairs(pairs_file: Path, images: Path) -> list[Pair]:
    """Pairs from a CSV or TSV of ``image a, image b, label`` (label 1/0, true/false, yes/no or
    same/different; further columns ignored; a header row is skipped), paths relative to ``images``."""
    import csv

    text = pairs_file.read_text()
    dialect = "excel-tab" if "\t" in text.splitlines()[0] else "excel"
    pairs = []
    for row_number, row in enumerate(csv.reader(text.splitlines(), dialect=dialect)):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            raise ValueError(f"{pairs_file}:{row_number + 1}: expected image a, image b, label; got {row}")
        label = row[2].strip().lower()
        if row_number == 0 and Path(row[0].strip()).suffix.lower() not in IMAGE_SUFFIXES:
            continue  # a header: its first column is not an image
        if label not in LABELS:
            raise ValueError(f"{pairs_file}:{row_number + 1}: label {row[2]!r} is not one of {sorted(LABELS)}")
        pairs.append(Pair(images / row[0].strip(), images / row[1].strip(), LABELS[label], 0))
    return pairs


def every_pair(directory: Path) -> list[Pair]:
    """Every unordered pair of photos of a folder-per-person set, labelled by folder."""
    photos = [(person, path) for person, paths in people(directory).items() for path in paths]
    return [Pair(a, b, pa == pb, 0) for i, (pa, a) in enumerate(photos) for pb, b in photos[i + 1:]]


def read_pairs(source: Path, images: Path | None = None) -> list[Pair]:
    """Labelled pairs from LFW's pairs.txt, a CSV/TSV of pairs, or a folder-per-person set (every pair).

    Images are looked up in ``images``, by default the pairs file's own folder.
    """
    if source.is_dir():
        return every_pair(source)
    if not source.is_file():
        raise ValueError(f"pairs {source} is neither a pairs file nor a folder of people")
    folder = images if images is not None else source.parent
    if source.suffix.lower() in (".csv", ".tsv"):
        return table_pairs(source, folder)
    return lfw_pairs(source, folder)
