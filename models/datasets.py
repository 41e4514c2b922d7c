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
