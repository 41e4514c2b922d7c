"""The [sync] table of config.toml, typed and checked: a wrong key or value stops start-up with a
message naming the key and what it accepts (the other tables are read by ``device.config``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from device.config import typed_table  # one way of reading typed tables for the whole config.toml
from models.settings import SettingsError

MAX_BATCH = 1000  # the contract's largest batch


@dataclass(frozen=True)
class SyncConfig:
    enabled: bool = True
    server: str = ""
    credentials_file: Path | None = None
    batch_size: int = 500
    interval_s: float = 5.0
    pull_interval_s: float = 30.0
    page_size: int = 500
    timeout_s: float = 15.0
    backoff_s: tuple[float, float] = (1.0, 300.0)
    ca_file: Path | None = None
    clock_suspect_s: float = 300.0

    def credentials_path(self, store_path: Path) -> Path:
        """Where the device's server, id and token are kept: the configured file, else beside the store
        and named after it (kiosk.db: kiosk.sync-credentials.json)."""
        return self.credentials_file or store_path.with_name(store_path.stem + ".sync-credentials.json")

    def pending_path(self, store_path: Path) -> Path:
        """Where a new provisioning code waits for its exchange with the server (beside the credentials:
        kiosk.sync-credentials.pending.json); the credentials in use are replaced only once it worked."""
        path = self.credentials_path(store_path)
        return path.with_name(path.stem + ".pending" + path.suffix)


def parse(raw: dict[str, Any], base: Path) -> SyncConfig:
    config: SyncConfig = typed_table("sync", SyncConfig, raw.get("sync", {}), base)
    if config.server and not config.server.startswith(("http://", "https://")):
        raise SettingsError(f"[sync] server = {config.server!r}: use an http:// or https:// URL, or \"\" for the "
                            "one given at provisioning")
    if not 1 <= config.batch_size <= MAX_BATCH:
        raise SettingsError(f"[sync] batch_size = {config.batch_size}: use 1 to {MAX_BATCH} events")
    if not 1 <= config.page_size <= 1000:
        raise SettingsError(f"[sync] page_size = {config.page_size}: use 1 to 1000 changes")
    for key in ("interval_s", "pull_interval_s", "timeout_s", "clock_suspect_s"):
        if not getattr(config, key) > 0:
            raise SettingsError(f"[sync] {key} = {getattr(config, key)!r}: use a number above 0")
    first, longest = config.backoff_s
    if not 0 < first <= longest:
        raise SettingsError(f"[sync] backoff_s = {list(config.backoff_s)}: use [first, longest] seconds, "
                            "0 < first <= longest")
    return replace(config, server=config.server.rstrip("/"))


def load(path: Path | None) -> SyncConfig:
    """[sync] of the config file at ``path`` (defaults when there is no file or no table)."""
    if path is None:
        return SyncConfig()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
    return parse(raw, path.parent)
