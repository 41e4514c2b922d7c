"""config.toml's engine tables: the shipped file loads; mistakes are named with what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import catalog
from models.settings import SettingsError, engine_settings, load


def test_shipped_config_loads() -> None:
    settings = load(catalog.ROOT / "config.toml")
    assert settings.detector.min_face == 40 and settings.embedder == "auto"
    assert settings.model_dir == catalog.ROOT / "artifacts" / "models"
    assert settings.thresholds is None  # the model's calibrated thresholds apply


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"detector": {"min_fase": 40}}, "unknown keys ['min_fase']"),
        ({"detector": {"min_face": 8}}, "at least 12"),
        ({"detector": {"scale": 2.0}}, "scale must be in (0, 1]"),
        ({"quality": {"pitch_range": [0.2]}}, "list of 2 numbers"),
        ({"quality": {"max_yaw": "wide"}}, "use a number"),
        ({"models": {"flip": "maybe"}}, "true, false or \"manifest\""),
        ({"models": {"embed_threads": 0}}, "whole number from 1 to 16"),
        ({"decision": {"accept": 0.6}}, "not ['margin', 'unknown']"),
        ({"decision": {"accept": 0.3, "unknown": 0.5, "margin": 0.05}}, "unknown <= accept"),
    ],
)
def test_mistakes_name_the_key_and_the_allowed_values(config: dict, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SettingsError) as caught:
        engine_settings(config, base=Path("."))
    assert words in str(caught.value)


def test_decision_override_replaces_calibrated_thresholds() -> None:
    settings = engine_settings({"decision": {"accept": 0.7, "unknown": 0.4, "margin": 0.1}}, base=Path("."))
    assert settings.thresholds is not None and settings.thresholds.accept == 0.7


def test_unreadable_config_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[detector\nmin_face = 40")
    with pytest.raises(SettingsError, match="cannot read"):
        load(bad)
