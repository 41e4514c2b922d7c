"""Push: drain the outbox (the store's ``events`` not yet synced) to the server in batches.

A batch's Idempotency-Key is a UUIDv5 of the device and the batch's event ids, so a batch sent
again after a lost answer, a timeout or a crash of this process carries the same key, and the server
answers with its first reply instead of ingesting again. Accepted and duplicate events are marked
synced, and the clock offset and last sync time kept, in one transaction. Conflicts and rejections
are set aside in ``sync_issues`` (shown to the technician, logged) so they never block the events
behind them; ``labgate-sync issues --retry`` sends them again.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from device.events import Event
from device.logs import log
from device.store import Store, now_iso
from sync.client import Client, Refused, Retry

KEY_NAMESPACE = uuid.UUID("6f1c2a47-8d4e-5b0a-9c3e-1a2b3c4d5e6f")
SYNCED = ("accepted", "duplicate")
SET_ASIDE = ("conflict", "rejected")


@dataclass
class Pushed:
    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    conflict: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    issues: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, other: Pushed) -> None:
        for name in ("sent", "accepted", "duplicate", "conflict", "rejected", "batches", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def unsent(store: Store, limit: int) -> list[Event]:
    """The oldest events waiting for the server (the store's outbox), leaving out those set aside as
    sync issues (there are at most as many of those as rows in ``sync_issues``)."""
    aside = {row[0] for row in store.db.conn.execute("SELECT event_id FROM sync_issues")}
    return [e for e in store.outbox(limit + len(aside)) if e.id not in aside][:limit]


def batch_key(device_id: str, epoch: str, ids: list[str]) -> str:
    return str(uuid.uuid5(KEY_NAMESPACE, f"{device_id}\n{epoch}\n" + ",".join(ids)))


def settle(store: Store, synced: list[str], issues: list[tuple[str, str, str]], values: dict[str, str]) -> int:
    """One transaction: mark ``synced`` events, record ``issues`` (id, status, reason), set sync values."""
    stamp = now_iso()
    with store.writing() as db:
        changed = store.mark_synced(synced, stamp, db)
        db.conn.executemany("INSERT INTO sync_issues (event_id, status, reason, at) VALUES (?, ?, ?, ?)"
                            " ON CONFLICT(event_id) DO UPDATE SET status = excluded.status, reason = excluded.reason,"
                            " at = excluded.at", [(i, s, r, stamp) for i, s, r in issues])
        store.set_sync_values(values, db)
    return changed


def push_batch(store: Store, client: Client, size: int, epoch: str, extra: dict[str, str]) -> Pushed:
    """Send the next ``size`` waiting events once. Raises Retry/Unauthorised/Refused from the client;
    ``extra`` sync values (clock offset) are written with the result."""
    events = unsent(store, size)
    done = Pushed()
    if not events:
        return done
    ids = [e.id for e in events]
    answer = client.push([e.contract() for e in events], batch_key(client.credentials.device_id, epoch, ids))
    results = _results(answer.body, ids)
    synced = [r["id"] for r in results if r["status"] in SYNCED]
    issues = [(r["id"], r["status"], str(r.get("reason") or "")) for r in results if r["status"] in SET_ASIDE]
    values = {"last_sync_at": now_iso(), **extra}
    missing = answer.body.get("missing_seq")
    if isinstance(missing, list):
        values["missing_seq"] = json.dumps(missing[:100])
    settle(store, synced, issues, values)
    done.sent, done.batches, done.seconds, done.issues = len(events), 1, answer.seconds, issues
    for r in results:
        setattr(done, r["status"], getattr(done, r["status"]) + 1)
    log("sync_pushed", events=len(events), first_seq=events[0].seq, last_seq=events[-1].seq,
        accepted=done.accepted, duplicate=done.duplicate, conflict=done.conflict, rejected=done.rejected,
        ms=round(answer.seconds * 1000))
    for event_id, status, reason in issues:
        log("sync_issue", level=logging.WARNING, id=event_id, status=status, reason=reason)
    return done


def set_aside(store: Store, event: Event, refusal: Refused) -> None:
    """One event the server refuses as a whole batch (4xx): keep it, show it, and move on."""
    settle(store, [], [(event.id, "rejected", f"{refusal.status}: {refusal.detail or refusal}")], {})
    log("sync_issue", level=logging.WARNING, id=event.id, seq=event.seq, status="rejected",
        reason=f"{refusal.status}: {refusal.detail}")


def _results(body: dict[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    """The per-event results, checked against what was sent (one per event, in order)."""
    results = body.get("results")
    if not isinstance(results, list) or len(results) != len(ids):
        count = len(results) if isinstance(results, list) else "no"
        raise Retry(f"the server answered {count} results for {len(ids)} events; the batch will be sent again")
    for sent, result in zip(ids, results, strict=True):
        if not isinstance(result, dict) or result.get("id") != sent or result.get("status") not in (*SYNCED,
                                                                                                    *SET_ASIDE):
            raise Retry(f"the server's result {str(result)[:120]} does not answer event {sent}; the batch will be "
                        "sent again")
    return results
