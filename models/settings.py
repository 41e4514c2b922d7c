"""The face engine's part of config.toml ([models], [detector], [quality], [decision]), validated.

A wrong key or value raises ``SettingsError`` naming the key and what it accepts.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from models.calibration import DEFAULT_TARGET_FPIR
from models.detector import DetectorSettings
from models.engine import EngineSettings
from models.quality import QualitySettings
from models.runtime import Thresholds


class SettingsError(ValueError):
    """config.toml has a key or value we cannot use."""


def load(path: Path) -> EngineSettings:
    """EngineSettings from a config file (other tables are left to their owners)."""
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    return engine_settings(config, base=path.parent)


def engine_settings(config: dict[str, Any], base: Path) -> EngineSettings:
    models = dict(config.get("models", {}))
    _known("models", models, {"dir", "embedder", "embed_threads", "flip"})
    flip = models.get("flip", "manifest")
    if flip not in ("manifest", True, False):
        raise SettingsError(f"[models] flip = {flip!r}: use true, false or \"manifest\"")
    directory = models.get("dir")
    decision = dict(config.get("decision", {}))
    thresholds = None
    target = decision.pop("target_fpir", DEFAULT_TARGET_FPIR)
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 0.05:
        raise SettingsError(f"[decision] target_fpir = {target!r}: use a share of strangers accepted per walk-up "
                            "between 0 and 0.05, like 0.001 (0.1 %)")
    if decision:
        _known("decision", decision, {"accept", "unknown", "margin", "target_fpir"})
        missing = {"accept", "unknown", "margin"} - set(decision)
        if missing:
            raise SettingsError(f"[decision] sets some thresholds but not {sorted(missing)}; set all three or none")
        try:
            thresholds = Thresholds(float(decision["accept"]), float(decision["unknown"]), float(decision["margin"]),
                                    calibrated_on="config.toml [decision]")
        except ValueError as exc:
            raise SettingsError(f"[decision]: {exc}") from exc
    return EngineSettings(
        model_dir=(base / directory) if directory else None,
        embedder=str(models.get("embedder", "auto")),
        embed_threads=_int("models", "embed_threads", models.get("embed_threads", 2), 1, 16),
        flip=None if flip == "manifest" else bool(flip),
        detector=_dataclass("detector", DetectorSettings, config.get("detector", {})),
        quality=_dataclass("quality", QualitySettings, config.get("quality", {})),
        thresholds=thresholds,
        target_fpir=float(target),
    )


def _known(table: str, values: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise SettingsError(f"[{table}] has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def _int(table: str, key: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"[{table}] {key} = {value!r}: use a whole number from {low} to {high}")
    return value


def _dataclass(table: str, kind: Any, values: dict[str, Any]) -> Any:
    defaults = kind()
    allowed = {f.name for f in fields(kind)}
    _known(table, values, allowed)
    converted = {}
    for key, value in values.items():
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or len(value) != len(default):
                raise SettingsError(f"[{table}] {key} = {value!r}: use a list of {len(default)} numbers")
            converted[key] = tuple(float(v) for v in value)
        elif isinstance(default, bool) or not isinstance(value, int | float):
            raise SettingsError(f"[{table}] {key} = {value!r}: use a number like {default!r}")
        else:
            converted[key] = type(default)(value)
    try:
        return kind(**converted)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"[{table}]: {exc}") from exc
