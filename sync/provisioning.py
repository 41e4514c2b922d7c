"""Provisioning a kiosk: keep what the server's provisioning code carries (from ``labgate-sync
provision``, the camera or the technician screen) as pending, then exchange its one-time token with
the server for the device token the kiosk made (activation: ``activate_pending``, run by the runner
before each cycle and by ``labgate-sync provision``). Only an exchanged code replaces the
credentials in use; a refused one (used, expired) is dropped, and its reason kept for the screen.

A code from the camera or the screen is taken only while a technician is signed in on the screen
(the screen tells the kiosk who; see ``Kiosk.technician``)."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, replace
from enum import StrEnum

from device.logs import log
from device.store import Store
from sync import credentials as creds
from sync.client import Client, Refused, Retry, Unauthorised
from sync.config import SyncConfig
from sync.credentials import Credentials, ProvisioningError

REFUSED = "provisioning_refused"  # sync_state: why the last code was refused ("" when none was)


class Exchange(StrEnum):
    NONE = "none"  # no code waits
    ACTIVATED = "activated"  # exchanged: the new credentials are in use
    WAITING = "waiting"  # the server cannot be reached now: the code waits, it is tried again
    REFUSED = "refused"  # used, expired, unknown or revoked: dropped


@dataclass(frozen=True)
class Outcome:
    exchange: Exchange
    detail: str = ""


def provision(store: Store, config: SyncConfig, found: Credentials, actor: str) -> None:
    """Keep a new provisioning code (or activated credentials, as tests and tools make them) and note it
    in the audit log; a running sync exchanges a code on its next cycle."""
    if found.pending:
        creds.save(config.pending_path(store.path), found)
        store.set_sync_values({REFUSED: ""})
    else:
        creds.save(config.credentials_path(store.path), found)
    store.audit(actor, "sync.provision", server=found.server, device=found.device_id)
    log("sync_credentials_saved", server=found.server, device=found.device_id, by=actor,
        activated=not found.pending)


def from_technician(store: Store, config: SyncConfig, payload: str, technician: str | None,
                    source: str) -> tuple[bool, str]:
    """A provisioning payload shown to the camera or pasted on the technician screen (``source``):
    kept only when a technician is signed in. Returns (kept, what to tell the technician)."""
    if technician is None:
        log("sync_provision_refused", level=logging.WARNING, source=source, reason="not in technician mode",
            note="sign in as a technician on the kiosk's screen, then show the code again")
        return False, "not in technician mode: sign in as a technician first"
    try:
        found = creds.parse_payload(payload)
    except ProvisioningError as exc:
        log("sync_provision_refused", level=logging.WARNING, source=source, reason=str(exc), technician=technician)
        return False, str(exc)
    try:
        provision(store, config, found, technician)
    except (OSError, sqlite3.Error) as exc:
        log("sync_provision_failed", level=logging.ERROR, source=source, error=str(exc), technician=technician)
        return False, f"could not keep the code: {exc}"
    return True, f"kept: device {found.device_id} at {found.server}; sync exchanges it with the server now"


def activate_pending(store: Store, config: SyncConfig) -> Outcome:
    """Exchange the waiting provisioning code, if one waits: on success the new credentials replace
    the ones in use; refused, it is dropped and the reason kept (``provisioning_refused``); unreachable,
    it waits (the same device token goes again: the server answers a repeat the same)."""
    path = config.pending_path(store.path)
    try:
        pending = creds.load(path)
    except ProvisioningError as exc:
        path.unlink(missing_ok=True)
        return _refused(store, f"the waiting provisioning code was unreadable ({exc}); show the code again")
    if pending is None:
        return Outcome(Exchange.NONE)
    client = Client(replace(pending, server=config.server or pending.server), config.timeout_s, config.ca_file)
    try:
        answer = client.activate()
    except Retry as exc:
        return Outcome(Exchange.WAITING, f"the provisioning code waits for the server: {exc}")
    except (Unauthorised, Refused) as exc:
        creds.discard(path, pending)
        return _refused(store, f"the server refused the provisioning code ({exc.status}): {exc.detail or exc}")
    finally:
        client.close()
    creds.save(config.credentials_path(store.path), pending.activated())
    creds.discard(path, pending)
    store.set_sync_values({REFUSED: ""})
    log("sync_activated", server=pending.server, device=pending.device_id, room=answer.body.get("room", "-"))
    return Outcome(Exchange.ACTIVATED, f"device {pending.device_id} at {pending.server}")


def _refused(store: Store, detail: str) -> Outcome:
    store.set_sync_values({REFUSED: detail})
    log("sync_provisioning_refused", level=logging.WARNING, detail=detail)
    return Outcome(Exchange.REFUSED, detail)
