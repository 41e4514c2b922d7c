"""New model folders made from an existing one: a recalibrated or fine-tuned embedder next to copies
of the detector, with its own models.json, so a kiosk can point ``[models] dir`` at it.

Files are copied, never hard-linked: writing a manifest rewrites the file, and through a hard link
that would change the source model that others are using.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from models import catalog
from models.detector import ONET_FILE, PNET_FILE, RNET_FILE

DETECTOR_FILES = (PNET_FILE, RNET_FILE, ONET_FILE)


def start_folder(source: Path, out: Path, force: bool = False) -> None:
    """Make ``out`` with copies of ``source``'s detector; refuse the source itself or a built folder."""
    if out.resolve() == source.resolve():
        raise ValueError(f"{out} is the source model folder; write the new model to another folder")
    if (out / catalog.INDEX).exists() and not force:
        raise ValueError(f"{out} already holds models ({catalog.INDEX}); choose another folder or use --force")
    out.mkdir(parents=True, exist_ok=True)
    for name in DETECTOR_FILES:
        if not (source / name).is_file():
            raise ValueError(f"{source} has no {name}; build the models first (labgate-models build)")
        shutil.copyfile(source / name, out / name)


def copy_embedder(path: Path, out: Path) -> Path:
    target = out / path.name
    if target.resolve() != path.resolve():
        shutil.copyfile(path, target)
    return target


def write_folder_index(out: Path, default: str, derived: dict[str, Any]) -> dict[str, Any]:
    """models.json for a derived folder: every model's sha256, the default embedder, where it came from."""
    index = {
        "files": {p.name: catalog.sha256_of(p) for p in sorted(out.glob("*.onnx")) if ".partial" not in p.name},
        "default_embedder": default,
        "calibrated": True,
        "derived_from": derived,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    catalog.write_index(out, index)
    return index


def update_index(directory: Path, path: Path) -> None:
    """After rewriting ``path`` in place, record its new sha256 in the folder's models.json."""
    index = catalog.read_index(directory)
    if path.name in index.get("files", {}):
        index["files"][path.name] = catalog.sha256_of(path)
        catalog.write_index(directory, index)
