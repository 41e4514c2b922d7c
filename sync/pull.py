"""Pull: read the changes feed from the stored cursor, page by page; each page is applied with its
cursor in one transaction (so the cursor never passes a change that is not committed), then the
cursor is acknowledged to the server (that is how an erasure is known to have reached this kiosk),
then the page's commands run and are acknowledged.

A server whose feed ends before this kiosk's cursor (its database was restored from a backup, or it
is another server) refuses the acknowledgement or the cursor; the kiosk then starts again from the
beginning, which brings the whole current state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from device.logs import log
from device.store import Store
from sync.apply import Applied, PageError, apply_page, read_page
from sync.client import Client, Refused
from sync.commands import Commands

MAX_PAGES = 10_000  # one pull never loops for ever on a server that keeps saying has_more


@dataclass
class Pulled:
    pages: int = 0
    people: int = 0
    templates: int = 0
    removed_templates: int = 0
    erased: int = 0
    commands: int = 0
    restarted_from_start: bool = False

    def add(self, other: Pulled) -> None:
        for name in ("pages", "people", "templates", "removed_templates", "erased", "commands"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def pull(store: Store, client: Client, commands: Commands, page_size: int,
         clock: dict[str, str] | None = None) -> Pulled:
    done = Pulled()
    for _ in range(MAX_PAGES):
        cursor = store.sync_value("cursor") or None
        try:
            answer = client.changes(cursor, page_size)
        except Refused as exc:
            if exc.status == 400 and cursor and not done.restarted_from_start:
                _restart(store, f"the server does not know cursor {cursor}: {exc.detail}")
                done.restarted_from_start = True
                continue
            raise
        try:
            page = read_page(answer.body)
        except PageError as exc:
            raise PageError(f"the server sent a changes page this kiosk cannot read: {exc}") from exc
        applied = apply_page(store, page, clock)
        done.pages += 1
        _count(done, applied)
        if applied.changed or applied.notes or page.commands:
            log("sync_pulled", cursor=page.next_cursor, people=applied.people, templates=applied.templates,
                removed_templates=applied.removed_templates, erased=applied.erased, bookings=applied.bookings,
                commands=len(page.commands), ms=round(answer.seconds * 1000))
        for note in applied.notes:
            log("sync_pull_note", level=logging.WARNING, note=note)
        if applied.erased:
            _wipe(store)
        if page.next_cursor != (store.sync_value("acked_cursor") or None):
            try:
                client.ack_changes(page.next_cursor)
            except Refused as exc:
                if exc.status != 422 or done.restarted_from_start:
                    raise
                _restart(store, f"the server refused cursor {page.next_cursor}: {exc.detail}")
                done.restarted_from_start = True
                continue
            store.set_sync_value("acked_cursor", page.next_cursor)
        done.commands += commands.settle(client)
        moved_back = (store.sync_value("cursor") or None) != page.next_cursor  # a resync command
        if not page.has_more and not moved_back:
            return done
    log("sync_pull_stopped", level=logging.WARNING, pages=done.pages, note="the feed kept saying has_more")
    return done


def _wipe(store: Store) -> None:
    """Get the erased people's bytes out of the database file and its WAL (``Store.wipe``); when readers
    keep it busy, the store keeps the wipe pending for its next try."""
    if not store.wipe():
        log("sync_erase_wipe_pending", level=logging.WARNING, pending=store.wipe_pending(),
            note="readers held old snapshots; the old copies leave the log at the next wipe")


def _restart(store: Store, why: str) -> None:
    log("sync_feed_restart", level=logging.WARNING, reason=why)
    store.set_sync_values({"cursor": "", "acked_cursor": ""})


def _count(done: Pulled, applied: Applied) -> None:
    done.people += applied.people
    done.templates += applied.templates
    done.removed_templates += applied.removed_templates
    done.erased += applied.erased
