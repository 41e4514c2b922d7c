"""labgate-models as a user runs it: info, compare, an idempotent build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from models import catalog


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "models.cli", *args], capture_output=True, text=True,
                          check=check, env={**os.environ})


def test_info_prints_the_manifest(model_dir: Path) -> None:
    default = catalog.read_index(model_dir)["default_embedder"]
    info = json.loads(_cli("info", default).stdout)
    assert info["kind"] == "embedder" and info["embedding_size"] == 512
    assert info["file"]["sha256"] == catalog.read_index(model_dir)["files"][default]
    assert info["thresholds"]["accept"] > info["thresholds"]["unknown"]


def test_compare_same_and_different_people(model_dir: Path, data_dir: Path) -> None:
    folder = data_dir / "lfw_people" / "known" / "Hans_Blix"
    photos = sorted(folder.glob("*.jpg"))
    stranger = sorted((data_dir / "lfw_people" / "unknown").glob("*.jpg"))[0]
    same = json.loads(_cli("compare", str(photos[0]), str(photos[1])).stdout)
    different = json.loads(_cli("compare", str(photos[0]), str(stranger)).stdout)
    assert same["score"] > different["score"]
    assert same["decision"] == "same" and different["decision"] == "different"


def test_compare_reports_a_bad_file_without_a_traceback(model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = _cli("compare", str(broken), str(broken), check=False)
    assert result.returncode == 2
    assert "broken.jpg" in result.stderr and "Traceback" not in result.stderr


def test_build_again_is_a_verified_no_op(model_dir: Path) -> None:
    before = (model_dir / catalog.INDEX).read_text()
    result = _cli("build")
    assert "nothing to do" in result.stdout
    assert (model_dir / catalog.INDEX).read_text() == before
