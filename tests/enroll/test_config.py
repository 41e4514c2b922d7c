"""The [enrol] table: every key documented where it stands in config.toml, wrong values refused with
the key named; the enrolment screen's words exist in both languages."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from enroll import config as enrol_config
from enroll.capture import GUIDANCE, REASONS
from enroll.config import EnrolConfig
from kiosk.screen import enrol_text
from kiosk.strings import LANGUAGES
from models.settings import SettingsError
from tests.enroll.conftest import ROOT


def test_every_enrol_key_is_in_config_toml_with_a_comment_above_it() -> None:
    text = (ROOT / "config.toml").read_text()
    table = tomllib.loads(text)["enrol"]
    assert set(table) == {f.name for f in fields(EnrolConfig)}
    lines = text.splitlines()
    start = lines.index("[enrol]")
    for key in table:
        at = next(i for i in range(start, len(lines)) if lines[i].startswith(f"{key} ="))
        assert lines[at - 1].startswith("#") or lines[at - 2].startswith("#"), f"[enrol] {key} has no comment"
    loaded = enrol_config.load(ROOT / "config.toml")
    assert loaded.min_shots >= 5 and loaded.key_file.is_absolute() and not loaded.keep_crops
    assert loaded.min_photos >= 2 and EnrolConfig().min_photos == 2, "one photo bypasses the two-people check"


@pytest.mark.parametrize("values, named", [
    ({"min_shots": 3}, "min_shots"),
    ({"min_shots": 9, "max_shots": 8}, "max_shots"),
    ({"keep_crops": "yes"}, "keep_crops"),
    ({"retention_days": 0}, "retention_days"),
    ({"near_identical": 1.0}, "near_identical"),
    ({"consent_policy": " "}, "consent_policy"),
    ({"key_file": ""}, "key_file"),
    ({"guided_yaw": 0.0}, "guided_yaw"),
    ({"guided_pitch": 0.5}, "guided_pitch"),
    ({"min_photos": 0}, "min_photos"),
    ({"colour": "red"}, "unknown keys"),
])
def test_wrong_values_are_refused_naming_the_key(values: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        enrol_config.parse(values, Path("/etc/labgate"))


def test_paths_are_relative_to_the_config_file() -> None:
    assert enrol_config.parse({"key_file": "keys/crops.key"}, Path("/etc/labgate")).key_file == Path(
        "/etc/labgate/keys/crops.key")
    assert enrol_config.parse({}, Path("/etc/labgate")).key_file == Path("/etc/labgate/artifacts/kiosk/crops.key")


def test_screen_words_exist_in_both_languages() -> None:
    for key, entry in enrol_text.CATALOGUE.items():
        assert set(LANGUAGES) <= set(entry), key
    for prompt in GUIDANCE:
        assert f"guide.{prompt}" in enrol_text.CATALOGUE
    for code in REASONS:
        for lang in LANGUAGES:
            assert enrol_text.reason(code, lang, 1) != code, (code, lang)


def test_consent_text_says_whether_face_photos_are_kept() -> None:
    """The screen's consent text: templates only, or with kept (encrypted) face crops and for how long."""
    for lang in LANGUAGES:
        templates = enrol_text.text("enrol.consent_text", lang, policy="1", days="365")
        crops = enrol_text.text("enrol.consent_text_crops", lang, policy="1", days="30")
        assert "30" in crops and "30" not in templates
    assert "not photos" in enrol_text.text("enrol.consent_text", "en", policy="1", days="30")
    assert "not photos" not in enrol_text.text("enrol.consent_text_crops", "en", policy="1", days="30")
    assert "bukan foto" not in enrol_text.text("enrol.consent_text_crops", "id", policy="1", days="30")
