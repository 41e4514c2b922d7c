"""Where the built models live, and which embedder is the default.

``labgate-models build`` writes the ONNX files and an index, ``models.json``, holding each file's
sha256 and the default embedder (the INT8 one when it passed its checks, else fp32).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from models.runtime import ModelError

ROOT = Path(__file__).resolve().parent.parent
INDEX = "models.json"


def model_dir(explicit: Path | str | None = None) -> Path:
    """``explicit``, else $LABGATE_MODELS, else artifacts/models in the checkout."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("LABGATE_MODELS", ROOT / "artifacts" / "models"))


def data_dir() -> Path | None:
    """The shared face data ($LABGATE_DATA, else ../shared/data next to the checkout), if present."""
    candidates = [os.environ.get("LABGATE_DATA"), ROOT.parent / "shared" / "data", "/work/shared/data"]
    for candidate in candidates:
        if candidate and Path(candidate, "lfw_people").is_dir():
            return Path(candidate)
    return None


def read_index(directory: Path) -> dict[str, Any]:
    path = directory / INDEX
    if not path.is_file():
        return {}
    try:
        index: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); rebuild with `labgate-models build --force`") from exc
    return index


def write_index(directory: Path, index: dict[str, Any]) -> None:
    partial = directory / (INDEX + ".partial")
    partial.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    partial.replace(directory / INDEX)


def embedder_path(directory: Path, choice: str = "auto") -> Path:
    """The embedder file: ``auto`` takes the index's default; otherwise a file name in ``directory``."""
    if choice != "auto":
        path = Path(choice) if Path(choice).is_absolute() else directory / choice
        if not path.is_file():
            raise ModelError(f"embedder {path} does not exist; run `labgate-models build` or fix [models] embedder")
        return path
    default = read_index(directory).get("default_embedder")
    if not default or not (directory / default).is_file():
        raise ModelError(f"no built embedder in {directory}; run `labgate-models build` (or `make models`)")
    return directory / default


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
