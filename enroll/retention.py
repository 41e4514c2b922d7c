"""Retention: kept face crops are deleted once past [enrol] retention_days, and every kept crop when
[enrol] keep_crops is off; deleted data is then wiped from the WAL (``Store.wipe``).

``purge_crops`` is the rule; the enrolment service applies it when it starts (``labgate-enroll``,
the technician screen), and a running kiosk applies it in a ``Retention`` thread: at start, then
every hour, off the recognition loop's path (the loop never waits for it). The same thread finishes
a wipe that an erasure could not complete while readers held old snapshots (``Store.wipe_pending``),
trying every few seconds until it is done.
"""

from __future__ import annotations

import logging
import threading
import time

from device.logs import LOGGER, log
from device.store import WIPE_WAIT_S, Store
from enroll.config import EnrolConfig

PURGE_EVERY_S = 3600.0
WIPE_RETRY_S = 5.0


def purge_crops(store: Store, config: EnrolConfig, actor: str, wait_s: float = WIPE_WAIT_S) -> int:
    """Delete crops past their retention time, or every crop when [enrol] keep_crops is off; returns
    how many (audited by the store)."""
    gone = store.purge_crops(actor, everything=not config.keep_crops, wait_s=wait_s)
    if gone:
        log("crops_purged", crops=gone, keep_crops=config.keep_crops, actor=actor)
    return gone


class Retention:
    """The kiosk's retention thread (``start``/``stop``); ``run_once`` is one round of it."""

    def __init__(self, store: Store, config: EnrolConfig, every_s: float = PURGE_EVERY_S,
                 wipe_retry_s: float = WIPE_RETRY_S) -> None:
        self.store, self.config = store, config
        self.every_s, self.wipe_retry_s = every_s, wipe_retry_s
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Retention:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> None:
        """Purge expired crops now, and finish a pending wipe if readers allow it."""
        purge_crops(self.store, self.config, "system", wait_s=1.0)
        self.finish_wipe()
        self.rounds += 1

    def finish_wipe(self) -> bool:
        """Try a pending wipe once (waiting up to a second for readers); True when none is left."""
        if not self.store.wipe_pending():
            return True
        done = self.store.wipe(wait_s=1.0)
        log("wipe_retried", done=done, level=logging.INFO if done else logging.WARNING)
        return done

    def _run(self) -> None:
        next_purge = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_purge:
                    self.run_once()
                    next_purge = time.monotonic() + self.every_s
                else:
                    self.finish_wipe()
            except Exception:  # a store hiccup must not end retention
                LOGGER.exception("event=retention_failed")
            self._stop.wait(min(self.wipe_retry_s, max(0.05, next_purge - time.monotonic())))
