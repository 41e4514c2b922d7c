"""The [enrol] table of config.toml, typed and checked: a wrong key or value raises ``SettingsError``
naming the key and what it accepts (the other tables are parsed by ``device.config``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from models.settings import SettingsError

MIN_SHOTS = 5  # the guided capture never saves fewer (issue 4)


@dataclass(frozen=True)
class EnrolConfig:
    min_shots: int = MIN_SHOTS
    max_shots: int = 8
    near_identical: float = 0.96
    guided_yaw: float = 0.06
    guided_pitch: float = 0.04
    consistency: float = 0.32
    min_photos: int = 2
    max_photos: int = 20
    consent_policy: str = "1"
    keep_crops: bool = False
    retention_days: float = 365.0
    key_file: Path = Path("artifacts/kiosk/crops.key")


def load(path: Path | None) -> EnrolConfig:
    """The [enrol] table of the config file at ``path`` (defaults when there is no file or no table)."""
    if path is None:
        return EnrolConfig()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
    return parse(raw.get("enrol", {}), path.parent)


def parse(values: Any, base: Path) -> EnrolConfig:
    if not isinstance(values, dict):
        raise SettingsError("[enrol] must be a table")
    defaults = EnrolConfig()
    names = {f.name for f in fields(EnrolConfig)}
    unknown = set(values) - names
    if unknown:
        raise SettingsError(f"[enrol] has unknown keys {sorted(unknown)}; allowed: {sorted(names)}")
    converted: dict[str, Any] = {}
    for key, value in values.items():
        converted[key] = _convert(key, value, getattr(defaults, key), base)
    if "key_file" not in converted:
        converted["key_file"] = base / defaults.key_file
    config = EnrolConfig(**converted)
    if not MIN_SHOTS <= config.min_shots <= config.max_shots <= 30:
        raise SettingsError(f"[enrol] min_shots = {config.min_shots}, max_shots = {config.max_shots}: use "
                            f"{MIN_SHOTS} <= min_shots <= max_shots <= 30")
    if not 0.5 <= config.near_identical < 1.0:
        raise SettingsError(f"[enrol] near_identical = {config.near_identical}: use a cosine similarity from 0.5 "
                            "to just below 1 (0.96: the same pose and light)")
    if not 0.0 < config.guided_yaw < 0.45:
        raise SettingsError(f"[enrol] guided_yaw = {config.guided_yaw}: use a yaw above 0 and below [quality] "
                            "max_yaw's default 0.45 (0.06: about 10 degrees)")
    if not 0.0 < config.guided_pitch < 0.3:
        raise SettingsError(f"[enrol] guided_pitch = {config.guided_pitch}: use a pitch change above 0 and below 0.3 "
                            "(0.04: about 10 degrees)")
    if not -1.0 < config.consistency < 1.0:
        raise SettingsError(f"[enrol] consistency = {config.consistency}: use a cosine similarity between -1 and 1")
    if not 1 <= config.min_photos <= config.max_photos:
        raise SettingsError(f"[enrol] min_photos = {config.min_photos}, max_photos = {config.max_photos}: use "
                            "1 <= min_photos <= max_photos")
    if not config.consent_policy.strip():
        raise SettingsError("[enrol] consent_policy is empty: set the version of the consent policy people agree to")
    if not config.retention_days > 0:
        raise SettingsError(f"[enrol] retention_days = {config.retention_days}: use a number of days above 0")
    return config


def _convert(key: str, value: Any, default: Any, base: Path) -> Any:
    where = f"[enrol] {key} = {value!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SettingsError(f"{where}: use true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{where}: use a whole number like {default}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{where}: use a number like {default}")
        return float(value)
    if isinstance(default, Path):
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where}: use a file path in quotes")
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    if not isinstance(value, str):
        raise SettingsError(f"{where}: use a string in quotes")
    return value
