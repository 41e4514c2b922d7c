"""Commands from the server (``resync``, ``restart``, ``reload_config``): recorded in the store's
``commands`` table with the page that brought them, run once after that page committed, then
acknowledged. A command run but not yet acknowledged (the answer was lost, the process died) is
acknowledged again with the recorded result, never run twice.

``resync`` is sync's own: the feed cursor goes back to the start, so the next pull brings the whole
current state again. ``restart`` and ``reload_config`` belong to whoever hosts sync (the kiosk, or
labgate-sync.service) and come in as handlers; an action that ends this process (a restart) runs
only after its acknowledgement went out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.logs import log
from device.store import Store, now_iso
from sync.client import Client, Refused


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str
    then: Callable[[], None] | None = None  # run after the acknowledgement (a restart)


Handler = Callable[[dict[str, Any]], Outcome]


def resync(store: Store) -> Handler:
    def run(_args: dict[str, Any]) -> Outcome:
        store.set_sync_value("cursor", "")
        return Outcome(True, "feed cursor reset; the whole current state is pulled again")

    return run


class Commands:
    def __init__(self, store: Store, handlers: dict[str, Handler]) -> None:
        self.store = store
        self.handlers = {"resync": resync(store), **handlers}

    def settle(self, client: Client) -> int:
        """Run every recorded command not run yet, then acknowledge every one not acknowledged; returns
        how many ran. Raises the client's errors (the rest is done on the next pull)."""
        ran = 0
        pending = self.store.db.conn.execute(
            "SELECT id, kind, args FROM commands WHERE done_at IS NULL ORDER BY received_at, id").fetchall()
        for command_id, kind, args in pending:
            outcome = self._run(command_id, kind, json.loads(args or "{}"))
            with self.store.writing() as db:
                db.conn.execute("UPDATE commands SET done_at = ?, ok = ?, detail = ? WHERE id = ?",
                                (now_iso(), int(outcome.ok), outcome.detail, command_id))
                db.conn.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?, 'sync', 'command.run', ?)",
                                (now_iso(), json.dumps({"id": command_id, "kind": kind, "ok": outcome.ok},
                                                       sort_keys=True)))
            ran += 1
            self._ack(client, command_id, outcome.ok, outcome.detail)
            if outcome.then is not None:
                outcome.then()
        unacked = self.store.db.conn.execute(
            "SELECT id, ok, detail FROM commands WHERE done_at IS NOT NULL AND acked_at IS NULL").fetchall()
        for command_id, ok, detail in unacked:
            self._ack(client, command_id, bool(ok), detail)
        return ran

    def _run(self, command_id: str, kind: str, args: dict[str, Any]) -> Outcome:
        handler = self.handlers.get(kind)
        if handler is None:
            outcome = Outcome(False, f"this kiosk does not know the command {kind!r}; it knows "
                                     f"{', '.join(sorted(self.handlers))}")
        else:
            try:
                outcome = handler(args)
            except Exception as exc:  # a failing command is reported to the server, not fatal to sync
                outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        log("sync_command", level=logging.INFO if outcome.ok else logging.WARNING, id=command_id, kind=kind,
            ok=outcome.ok, detail=outcome.detail)
        return outcome

    def _ack(self, client: Client, command_id: str, ok: bool, detail: str) -> None:
        try:
            client.ack_command(command_id, ok, detail)
        except Refused as exc:
            if exc.status != 404:
                raise
            # The server no longer has it (deleted, or another device's): nothing to acknowledge.
            log("sync_command_gone", level=logging.WARNING, id=command_id, detail=exc.detail)
        with self.store.writing() as db:
            db.conn.execute("UPDATE commands SET acked_at = ? WHERE id = ?", (now_iso(), command_id))
