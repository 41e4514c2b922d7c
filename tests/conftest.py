"""Fixtures that build real things: the shared face data, the built models, a face engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import catalog

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = catalog.data_dir()
    if found is None:
        pytest.skip("shared face data not found: set LABGATE_DATA to the folder with lfw_people/ etc.")
    return found


@pytest.fixture(scope="session")
def model_dir() -> Path:
    directory = catalog.model_dir()
    if not catalog.read_index(directory).get("default_embedder"):
        pytest.skip(f"models are not built in {directory}: run `labgate-models build` (make test does)")
    return directory


@pytest.fixture(scope="session")
def engine(model_dir: Path):  # type: ignore[no-untyped-def]
    from models.engine import EngineSettings, FaceEngine

    return FaceEngine(EngineSettings(model_dir=model_dir, face_selection="centre"))  # portrait photos


@pytest.fixture(scope="session")
def fp32_engine(model_dir: Path):  # type: ignore[no-untyped-def]
    from models.engine import EngineSettings, FaceEngine

    fp32 = next(name for name in catalog.read_index(model_dir)["files"] if name.endswith(".fp32.onnx"))
    return FaceEngine(EngineSettings(model_dir=model_dir, embedder=fp32, face_selection="centre"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
