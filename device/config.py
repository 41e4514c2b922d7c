"""The device's configuration: config.toml found, read, and its device tables typed and checked at
start-up.

The face engine's tables ([models] [detector] [quality] [decision]) are parsed by
``models.settings``; this module adds [camera] [kiosk] [store] [http] [fallback] [screen] [liveness], and its
``typed_table`` reads [sync] too (``sync.config``; [enrol] is ``enroll.config``). A wrong key or
value stops start-up with a ``SettingsError`` that names the key and what it accepts.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from models.engine import EngineSettings
from models.settings import SettingsError, engine_settings

CAMERA_KINDS = ("auto", "picamera2", "device", "gstreamer", "stream", "file", "folder", "demo")
PACES = ("realtime", "lockstep")
LANGUAGES = ("id", "en")
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


@dataclass(frozen=True)
class CameraConfig:
    kind: str = "auto"
    source: str = ""
    width: int = 640
    height: int = 480
    fps: float = 15.0
    pace: str = "realtime"
    loop: bool = True
    frame_timeout_s: float = 3.0
    backoff_s: tuple[float, float] = (0.5, 10.0)
    demo_seed: int = 0


@dataclass(frozen=True)
class LoopConfig:
    device_id: str = "kiosk"
    room: str = ""
    detect_width: int = 640
    vote: tuple[int, int] = (3, 5)
    cooldown_s: float = 60.0
    track_iou: float = 0.3
    track_ttl_s: float = 1.0
    decide_timeout_s: float = 4.0
    greet_s: float = 4.0
    max_waiting: int = 2
    offline_after_s: float = 600.0


@dataclass(frozen=True)
class StoreConfig:
    path: Path = Path("artifacts/kiosk/kiosk.db")


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8470
    events_token_file: Path | None = None


@dataclass(frozen=True)
class FallbackConfig:
    pin_max_failures: int = 3
    pin_lock_s: float = 30.0
    pin_lock_max_s: float = 900.0
    failures_per_minute: int = 10
    qr: bool = True
    qr_public_key: str = ""
    qr_scan_hz: float = 4.0
    qr_clock_skew_s: float = 60.0
    offer_s: float = 30.0


@dataclass(frozen=True)
class ScreenConfig:
    fullscreen: bool = True
    language: str = "id"
    size: tuple[int, int] = (1024, 600)
    preview_fps: float = 12.0
    technician_roles: tuple[str, ...] = ("technician", "admin")


@dataclass(frozen=True)
class LivenessConfig:
    enabled: bool = True
    threshold: float = -1.0  # below: an attack; negative: the models' calibrated threshold
    grey_top: float = -1.0  # at or above: live; between: a head turn is asked; negative: calibrated
    frames: int = 3  # good frames of a track the models score
    turn_yaw: float = 0.12  # yaw change (eye distances) that counts as a head turn
    turn_s: float = 4.0  # seconds the head turn is waited for
    threads: int = 1


@dataclass(frozen=True)
class Config:
    engine: EngineSettings
    camera: CameraConfig = field(default_factory=CameraConfig)
    kiosk: LoopConfig = field(default_factory=LoopConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    path: Path | None = None
    liveness: LivenessConfig = field(default_factory=LivenessConfig)

    def events_token(self) -> str | None:
        """The bearer token for GET /events, read from its file; None when not configured."""
        token_file = self.http.events_token_file
        if token_file is None:
            return None
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise SettingsError(f"[http] events_token_file = {str(token_file)!r} cannot be read: {exc}") from exc
        if len(token) < 16:
            raise SettingsError(f"[http] events_token_file {token_file} holds a token shorter than 16 characters")
        return token


def config_path(explicit: str | Path | None = None) -> Path:
    """``explicit``, else $LABGATE_CONFIG, else config.toml in the checkout."""
    return Path(explicit or os.environ.get("LABGATE_CONFIG") or DEFAULT_CONFIG)


def load(path: Path) -> Config:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
    return parse(raw, path.parent, path)


def parse(raw: dict[str, Any], base: Path, path: Path | None = None) -> Config:
    engine = replace(engine_settings(raw, base), face_selection="largest")
    camera = typed_table("camera", CameraConfig, raw.get("camera", {}), base)
    if camera.kind not in CAMERA_KINDS:
        raise SettingsError(f"[camera] kind = {camera.kind!r}: use one of {', '.join(CAMERA_KINDS)}")
    if camera.pace not in PACES:
        raise SettingsError(f"[camera] pace = {camera.pace!r}: use one of {', '.join(PACES)}")
    _positive("camera", "fps", camera.fps)
    _positive("camera", "frame_timeout_s", camera.frame_timeout_s)
    if not 0 < camera.backoff_s[0] <= camera.backoff_s[1]:
        raise SettingsError(f"[camera] backoff_s = {list(camera.backoff_s)}: use [first, longest] seconds, "
                            "0 < first <= longest")
    kiosk = typed_table("kiosk", LoopConfig, raw.get("kiosk", {}), base)
    k, n = kiosk.vote
    if not 1 <= k <= n <= 30:
        raise SettingsError(f"[kiosk] vote = {[k, n]}: use [k, n] with 1 <= k <= n <= 30")
    if kiosk.detect_width < 160:
        raise SettingsError(f"[kiosk] detect_width = {kiosk.detect_width}: use at least 160 pixels")
    if not 0 < kiosk.track_iou < 1:
        raise SettingsError(f"[kiosk] track_iou = {kiosk.track_iou}: use a number between 0 and 1")
    for key in ("cooldown_s", "track_ttl_s", "decide_timeout_s", "greet_s", "offline_after_s"):
        _positive("kiosk", key, getattr(kiosk, key))
    if kiosk.max_waiting < 1:
        raise SettingsError(f"[kiosk] max_waiting = {kiosk.max_waiting}: use 1 or more")
    store = typed_table("store", StoreConfig, raw.get("store", {}), base)
    http = typed_table("http", HttpConfig, raw.get("http", {}), base)
    if not 0 <= http.port < 65536:
        raise SettingsError(f"[http] port = {http.port}: use a port from 1 to 65535 (0: any free port)")
    fallback = typed_table("fallback", FallbackConfig, raw.get("fallback", {}), base)
    for key in ("pin_lock_s", "pin_lock_max_s", "qr_scan_hz", "offer_s"):
        _positive("fallback", key, getattr(fallback, key))
    if fallback.pin_max_failures < 1 or fallback.failures_per_minute < 1:
        raise SettingsError("[fallback] pin_max_failures and failures_per_minute must be 1 or more")
    screen = typed_table("screen", ScreenConfig, raw.get("screen", {}), base)
    if screen.language not in LANGUAGES:
        raise SettingsError(f"[screen] language = {screen.language!r}: use one of {', '.join(LANGUAGES)}")
    _positive("screen", "preview_fps", screen.preview_fps)
    liveness = typed_table("liveness", LivenessConfig, raw.get("liveness", {}), base)
    for key in ("threshold", "grey_top"):
        value = getattr(liveness, key)
        if value > 1 or (value < 0 and key in raw.get("liveness", {})):
            raise SettingsError(f"[liveness] {key} = {value!r}: use a live score from 0 to 1, or leave it out to "
                                "use the models' calibrated one (`labgate-models info pad-minifasnetv2-2.7.onnx`)")
    if 0 <= liveness.grey_top < liveness.threshold:
        raise SettingsError(f"[liveness] grey_top = {liveness.grey_top} is below threshold = {liveness.threshold}: "
                            "the grey zone runs from threshold up to grey_top")
    if not 1 <= liveness.frames <= 10:
        raise SettingsError(f"[liveness] frames = {liveness.frames}: use 1 to 10")
    if not 1 <= liveness.threads <= 4:
        raise SettingsError(f"[liveness] threads = {liveness.threads}: use 1 to 4")
    _positive("liveness", "turn_yaw", liveness.turn_yaw)
    _positive("liveness", "turn_s", liveness.turn_s)
    return Config(engine, camera, kiosk, store, http, fallback, screen, path, liveness)


def _positive(table: str, key: str, value: float) -> None:
    if not value > 0:
        raise SettingsError(f"[{table}] {key} = {value!r}: use a number above 0")


def typed_table(table: str, kind: Any, values: Any, base: Path) -> Any:
    """A dataclass from a TOML table: unknown keys refused, each value checked against the default's type."""
    if not isinstance(values, dict):
        raise SettingsError(f"[{table}] must be a table")
    defaults = kind()
    names = {f.name for f in fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise SettingsError(f"[{table}] has unknown keys {sorted(unknown)}; allowed: {sorted(names)}")
    converted: dict[str, Any] = {}
    for key, value in values.items():
        default = getattr(defaults, key)
        converted[key] = _convert(table, key, value, default, base)
    return kind(**converted)


def _convert(table: str, key: str, value: Any, default: Any, base: Path) -> Any:
    where = f"[{table}] {key} = {value!r}"
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
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SettingsError(f"{where}: use a string in quotes")
        return value
    if isinstance(default, Path) or (default is None and key.endswith("_file")):
        if not isinstance(value, str):
            raise SettingsError(f"{where}: use a path in quotes")
        if value == "":
            return None if default is None else default
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    if isinstance(default, tuple):
        fixed_length = bool(default) and not isinstance(default[0], str)
        if not isinstance(value, list) or (fixed_length and len(value) != len(default)):
            raise SettingsError(f"{where}: use a list like {list(default)}")
        if default and isinstance(default[0], str):
            if not all(isinstance(v, str) for v in value):
                raise SettingsError(f"{where}: use a list of strings")
            return tuple(value)
        if isinstance(default[0], int) and not isinstance(default[0], bool):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise SettingsError(f"{where}: use a list of whole numbers like {list(default)}")
            return tuple(value)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise SettingsError(f"{where}: use a list of numbers like {list(default)}")
        return tuple(float(v) for v in value)
    raise SettingsError(f"{where}: unsupported value")  # pragma: no cover - every field has a typed default
