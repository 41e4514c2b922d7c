"""What sync keeps in the device store's ``sync_state`` table, and the status the technician screen,
``/health`` and ``labgate-sync status`` show. Whichever process runs sync (the kiosk's thread or
labgate-sync.service), the state is in the store, so every reader sees the same.

Keys: ``server`` and ``device_id`` (mirrors of the credentials file; the kiosk reads them),
``state`` and ``state_detail``, ``last_sync_at`` (the last answer from the server),
``clock_offset_s`` (server clock minus this clock), ``cursor`` (the feed position applied),
``acked_cursor`` (the position the server was told), ``missing_seq`` (gaps the server reported),
``key_epoch`` (changes the Idempotency-Keys when set-aside events are sent again),
``provisioning_refused`` (why the server refused the last provisioning code). They are
written with ``Store.set_sync_values`` (inside a caller's transaction where they must commit with it).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from device.store import Store


class State(StrEnum):
    UNPROVISIONED = "unprovisioned"  # no credentials yet: provision the kiosk
    OK = "ok"  # the last exchange with the server worked
    OFFLINE = "offline"  # the server cannot be reached or failed; retrying with backoff
    UNAUTHORISED = "unauthorised"  # the server refused the token (revoked, provisioned again): no more
    # requests until new credentials; events are kept
    ERROR = "error"  # the server refused a request or sent what this kiosk cannot read; retrying slowly
    STANDBY = "standby"  # another process runs sync on this store


def status(store: Store) -> dict[str, Any]:
    """Everything a technician needs to judge sync at a glance (no secrets)."""
    rows = {name: (value, at) for name, value, at in
            store.db.conn.execute("SELECT name, value, updated_at FROM sync_state")}

    def value(name: str) -> str | None:
        return rows[name][0] if name in rows else None

    offset = value("clock_offset_s")
    issues = dict(store.db.conn.execute("SELECT status, count(*) FROM sync_issues GROUP BY status").fetchall())
    state = value("state") or State.UNPROVISIONED.value
    return {
        "state": state,
        "detail": value("state_detail") or "",
        "since": rows["state"][1] if "state" in rows else None,
        "server": value("server"),
        "device_id": value("device_id"),
        "outbox": store.outbox_size(),
        "issues": {"conflict": int(issues.get("conflict", 0)), "rejected": int(issues.get("rejected", 0))},
        "last_sync_at": value("last_sync_at"),
        "clock_offset_s": float(offset) if offset else None,
        "cursor": value("cursor") or None,
        "acked_cursor": value("acked_cursor") or None,
        "missing_seq": json.loads(value("missing_seq") or "[]"),
        "provisioning_refused": value("provisioning_refused") or None,
    }
