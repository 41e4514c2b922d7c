"""Helpers for the accuracy-toolkit tests: run the CLI in this process, check report folders."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from models import catalog
from models.cli import PHOTO_MIN_FACE, main
from models.engine import FaceEngine
from models.settings import load
from models.tools.searches import PeopleSet, load_people


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, dict[str, Any]]:
    """Run ``labgate-models ARGS`` here; return its output and the JSON summary on its last line."""
    assert main(list(args)) == 0
    out = capsys.readouterr().out
    return out, json.loads(out.strip().splitlines()[-1])


def photo_engine(**changes: Any) -> FaceEngine:
    """The engine the toolkit's commands use: config.toml's, the centred face, faces down to 20 px."""
    settings = load(catalog.ROOT / "config.toml")
    settings = replace(settings, face_selection="centre",
                       detector=replace(settings.detector, min_face=PHOTO_MIN_FACE), **changes)
    return FaceEngine(settings)


def assert_report_renders(folder: Path, plots: set[str]) -> None:
    """summary.md exists, every link in it resolves, and every PNG opens at the size summary.json says."""
    markdown = (folder / "summary.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", markdown)
    assert links, "the summary links to nothing"
    for link in links:
        assert (folder / link).is_file(), f"summary.md links to {link}, which is not in {folder}"
    figures = json.loads((folder / "summary.json").read_text())["figures"]
    assert plots <= set(figures), f"missing plots: {plots - set(figures)}"
    for name, size in figures.items():
        assert name in links, f"{name} is not shown in summary.md"
        with Image.open(folder / name) as image:
            image.verify()
        with Image.open(folder / name) as image:
            assert image.format == "PNG" and list(image.size) == size
            assert image.size[0] >= 400 and image.size[1] >= 300
            grey = np.asarray(image.convert("L"))
            assert int(grey.max()) - int(grey.min()) > 100, f"{name} is blank"


def link_subset(target: Path, sources: list[Path]) -> Path:
    """``target`` holding symlinks to ``sources`` (a subset of a shared data set, nothing copied)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        (target / source.name).symlink_to(source)
    return target


def sha256s(folder: Path) -> dict[str, str]:
    return {p.name: catalog.sha256_of(p) for p in sorted(folder.glob("*.onnx"))}



@functools.cache
def lfw_people_set(data_dir: Path) -> PeopleSet:
    """lfw_people (25 known people, 200 strangers) detected and embedded once for the tests that use it
    whole, through the engine the toolkit's commands use."""
    return load_people(photo_engine(), data_dir / "lfw_people" / "known", data_dir / "lfw_people" / "unknown")
