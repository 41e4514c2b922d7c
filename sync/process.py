"""The process that hosts sync, as the server's ``restart`` and ``reload_config`` commands see it:
the kiosk (sync is one of its threads) or ``labgate-sync run`` on its own. Either way a restart is
this process replacing itself once the command's acknowledgement went out; committed data is on disk.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from device import config as device_config
from device.logs import log
from models.settings import SettingsError
from sync import config as sync_config
from sync.commands import Handler, Outcome


def restart_process() -> None:
    """Replace this process with a fresh copy of itself (same command line)."""
    log("sync_restarting", argv=" ".join(sys.orig_argv))
    logging.shutdown()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def handlers(config_path: Path | None, in_kiosk: bool) -> dict[str, Handler]:
    """``restart`` and ``reload_config`` for sync inside the kiosk (both restart the kiosk, the second
    only when the config file is valid) or apart (``restart`` cannot restart the kiosk from here;
    ``reload_config`` checks the file and restarts labgate-sync to apply [sync])."""

    def restart(_args: dict[str, Any]) -> Outcome:
        if in_kiosk:
            return Outcome(True, "restarting the kiosk", restart_process)
        return Outcome(False, "labgate-sync runs apart from the kiosk here; restart labgate-kiosk.service on the "
                              "device")

    def reload_config(_args: dict[str, Any]) -> Outcome:
        if config_path is None:
            return Outcome(False, "this process was started without a config file")
        try:
            device_config.load(config_path)
            sync_config.load(config_path)
        except SettingsError as exc:
            return Outcome(False, f"{config_path} is not valid, kept the running config: {exc}")
        if in_kiosk:
            return Outcome(True, f"{config_path} is valid; restarting the kiosk to apply it", restart_process)
        return Outcome(True, f"{config_path} is valid; labgate-sync restarts to apply [sync] (the kiosk applies the "
                             "rest at its next start)", restart_process)

    return {"restart": restart, "reload_config": reload_config}
