"""An import folder: ``DIR/<number>/*.jpg`` (one folder per person, named by their NIM or NIP) and an
optional ``DIR/people.csv`` with a header row and the columns ``number`` (or ``id``, ``nim``, ``nip``),
``name`` and, optionally, ``roles`` (separated by ``;``)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from models.datasets import image_files

NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
NUMBER_COLUMNS = ("number", "id", "nim", "nip")


class FolderError(ValueError):
    """The import folder or its people.csv cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Candidate:
    number: str
    name: str
    roles: tuple[str, ...]
    photos: tuple[Path, ...]


def valid_number(number: str) -> bool:
    return bool(NUMBER.match(number))


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
