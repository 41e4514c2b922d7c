"""The sync runner: push the outbox, pull the feed, keep the state, back off when the server fails.

One ``Sync`` serves one device store, as a thread of the kiosk (``start``/``stop``/``wake``) or in
its own process (``labgate-sync run``, ``once``). Only one runner works on a store at a time (an
exclusive lock beside it); another one waits in ``standby``.

Each cycle: exchange a waiting provisioning code (``sync.provisioning``), read the credentials (new
ones are picked up here), drain the outbox in batches (pulling between batches
whenever a pull is due, so an erasure never waits behind a long backlog), then pull. A failure
backs off exponentially with jitter, never sooner than a ``Retry-After``. A 401 stops all traffic
with the state ``unauthorised`` until new credentials arrive; events keep being recorded and wait
in the outbox.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from typing import IO

from device.logs import log
from device.store import Store
from sync import credentials as creds
from sync import push
from sync.apply import PageError
from sync.backoff import Backoff
from sync.client import Client, Refused, Retry, Unauthorised
from sync.commands import Commands, Handler
from sync.config import SyncConfig
from sync.credentials import Credentials, ProvisioningError
from sync.provisioning import REFUSED, Exchange, activate_pending
from sync.pull import Pulled, pull
from sync.state import State, status

ERROR_BACKOFF_FACTOR = 10  # a refused request or an unreadable page is retried slower than a network failure
CREDENTIALS_POLL_S = 2.0  # how often an unprovisioned or refused kiosk looks for new credentials (a file read)
PROVISION_AGAIN = "provision the kiosk again (the server's QR code in technician mode, or labgate-sync provision)"


@dataclass
class Report:
    """What one ``once`` did, for the command line."""

    state: str
    detail: str
    pushed: push.Pushed = field(default_factory=push.Pushed)
    pulled: Pulled = field(default_factory=Pulled)


class Sync:
    def __init__(self, store: Store, config: SyncConfig, *, handlers: dict[str, Handler] | None = None,
                 model_id: str | None = None) -> None:
        self.store = store
        self.config = config
        self.model_id = model_id
        self.credentials_path = config.credentials_path(store.path)
        self.lock_path = store.path.with_name(store.path.name + ".sync-lock")
        self.commands = Commands(store, handlers or {})
        self.backoff = Backoff(*config.backoff_s)
        self._client: Client | None = None
        self._refused_credentials: Credentials | None = None
        self._lock_file: IO[bytes] | None = None
        self._next_pull = 0.0
        self._batch_size = config.batch_size
        self.pushed, self.pulled = push.Pushed(), Pulled()  # since start (or this ``once``)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()

    # -- running as a thread -----------------------------------------------------------------------
    def start(self) -> Sync:
        self._thread = threading.Thread(target=self.run, name="sync", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wake(self) -> None:
        """New events are waiting (or new credentials): work now instead of at the next interval."""
        self._wake.set()

    def on_event(self, _event: object, _first_wall: float | None) -> None:
        """A listener of the kiosk's presence: each committed event wakes the push."""
        self._wake.set()

    def run(self) -> None:
        log("sync_started", store=str(self.store.path), credentials=str(self.credentials_path),
            batch_size=self.config.batch_size, pid=os.getpid())
        while not self._stop.is_set():
            wait, wakeable = self.config.interval_s, True
            try:
                wait, wakeable = self._cycle()
            except Exception as exc:  # sync must outlive whatever one cycle met (a full disk, a bug)
                logging.getLogger("labgate.kiosk").exception("event=sync_cycle_failed")
                self._set_state(State.ERROR, f"{type(exc).__name__}: {exc}")
                wait, wakeable = self.backoff.next() * ERROR_BACKOFF_FACTOR, False
            self._sleep(wait, wakeable)
        self._close_client()
        self._release()
        log("sync_stopped")

    def _sleep(self, seconds: float, wakeable: bool) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if wakeable:
                if self._wake.wait(left):
                    self._wake.clear()
                    return
            else:
                self._stop.wait(left)

    # -- one cycle ---------------------------------------------------------------------------------
    def _cycle(self) -> tuple[float, bool]:
        """Work until the outbox is empty and the feed read; returns (seconds to wait, wake on events)."""
        if not self._acquire():
            self._set_state(State.STANDBY, f"another process holds {self.lock_path}")
            return self.config.interval_s, False
        exchange = activate_pending(self.store, self.config)
        waiting = exchange.detail if exchange.exchange is Exchange.WAITING else ""
        client = self._current_client(waiting)
        if client is None:  # not provisioned, or refused: only watch for new credentials
            if waiting:
                return self._failed(State.OFFLINE, waiting, self.backoff.next())
            return min(self.config.interval_s, CREDENTIALS_POLL_S), True
        try:
            self._work(client)
        except Unauthorised as exc:
            self._refused(client, exc)
            log("sync_stopped_pushing", level=logging.WARNING, device=client.credentials.device_id,
                outbox=self.store.outbox_size(), note=PROVISION_AGAIN)
            return min(self.config.interval_s, CREDENTIALS_POLL_S), False
        except Retry as exc:
            return self._failed(State.OFFLINE, str(exc), self.backoff.next(exc.retry_after), exc.retry_after)
        except (Refused, PageError) as exc:
            return self._failed(State.ERROR, str(exc), self.backoff.next() * ERROR_BACKOFF_FACTOR)
        except sqlite3.Error as exc:
            return self._failed(State.ERROR, f"the device store failed: {exc}", self.backoff.next())
        self._succeeded()
        return min(self.config.interval_s, max(0.0, self._next_pull - time.monotonic())), True

    def _work(self, client: Client) -> None:
        """Drain the outbox (pulling whenever due), then pull if due."""
        while not self._stop.is_set():
            if time.monotonic() >= self._next_pull:
                self._pull(client)
            if not self._push_one(client):
                self._batch_size = self.config.batch_size  # drained: a narrowed batch size was for then
                break

    def _refused(self, client: Client, exc: Unauthorised) -> None:
        """The server refused these credentials: no more requests with them until new ones arrive."""
        self._refused_credentials = client.credentials
        self._set_state(State.UNAUTHORISED, f"device not authorised: {exc}; events are kept on this kiosk until it "
                                            "is provisioned again")

    def _failed(self, new: State, why: str, wait: float, retry_after: float | None = None) -> tuple[float, bool]:
        log("sync_retry", level=logging.INFO if new is State.OFFLINE else logging.WARNING, state=new.value,
            wait_s=round(wait, 2), retry_after=retry_after, failures=self.backoff.failures, error=why)
        self._set_state(new, f"{why}; next try in {wait:.1f} s")
        return wait, False

    def _push_one(self, client: Client) -> bool:
        """One batch; False when the outbox had nothing to send."""
        epoch = self.store.sync_value("key_epoch") or "0"
        try:
            done = push.push_batch(self.store, client, self._batch_size, epoch, self._clock_values(client))
        except Refused as exc:
            if exc.status not in (400, 413, 422):
                raise
            if self._batch_size > 1:  # a batch the server will not take: narrow down to the event it chokes on
                self._batch_size = max(1, self._batch_size // 2)
                log("sync_batch_refused", level=logging.WARNING, status=exc.status, detail=exc.detail,
                    batch_size=self._batch_size)
                return True
            waiting = push.unsent(self.store, 1)
            if not waiting:
                return False
            push.set_aside(self.store, waiting[0], exc)
            self.pushed.rejected += 1
            self._batch_size = self.config.batch_size  # found it: back to full batches
            return True
        self.pushed.add(done)
        if done.sent:
            self._succeeded()
        return done.sent > 0

    def _succeeded(self) -> None:
        """The server answered: the next failure starts the backoff from its first step again."""
        self.backoff.reset()
        self._set_state(State.OK, "")

    def _pull(self, client: Client) -> None:
        pulled = pull(self.store, client, self.commands, self.config.page_size, self._clock_values(client))
        self._next_pull = time.monotonic() + self.config.pull_interval_s
        self.pulled.add(pulled)
        self._succeeded()
        model = self.store.server_config("model_id")
        if self.model_id and model and model != self.model_id:
            log("sync_model_mismatch", level=logging.WARNING, server_model=model, kiosk_model=self.model_id,
                note="templates from the server are for another model; they are kept but not used")
        if pulled.erased:
            log("sync_erased", people=pulled.erased)

    def _clock_values(self, client: Client) -> dict[str, str]:
        offset = client.clock.offset
        return {} if offset is None else {"clock_offset_s": f"{offset:.3f}"}

    # -- once --------------------------------------------------------------------------------------
    def once(self) -> Report:
        """Push everything waiting and read the whole feed, once; the report says how it ended."""
        if not self._acquire():
            return Report(State.STANDBY.value, f"another process holds {self.lock_path}; is labgate-sync or "
                                               "the kiosk's sync thread running?")
        self.pushed, self.pulled, self._next_pull = push.Pushed(), Pulled(), 0.0
        client = None
        try:
            exchange = activate_pending(self.store, self.config)
            client = self._current_client(exchange.detail if exchange.exchange is Exchange.WAITING else "")
            if client is not None:
                self._work(client)
                self._set_state(State.OK, "")
        except Unauthorised as exc:
            assert client is not None
            self._refused(client, exc)
        except Retry as exc:
            self._set_state(State.OFFLINE, str(exc))
        except (Refused, PageError) as exc:
            self._set_state(State.ERROR, str(exc))
        finally:
            self._close_client()
            self._release()
        values = status(self.store)
        return Report(values["state"], values["detail"], self.pushed, self.pulled)

    # -- credentials -------------------------------------------------------------------------------
    def _current_client(self, waiting: str = "") -> Client | None:
        """The client for the kept credentials (new credentials: a new client, the cursor from the start).
        ``waiting``: why a provisioning code still waits (the state then, when there are no credentials)."""
        try:
            found = creds.load(self.credentials_path)
        except ProvisioningError as exc:
            self._set_state(State.ERROR, str(exc))
            self._close_client()
            return None
        if found is None and waiting:
            self._set_state(State.OFFLINE, waiting)
            return None
        if found is None:
            refused = self.store.sync_value(REFUSED)
            self._set_state(State.UNPROVISIONED, refused or f"no credentials in {self.credentials_path}: show the "
                                                            "server's provisioning QR code in technician mode, or run "
                                                            "labgate-sync provision")
            self._close_client()
            return None
        if self.config.server:
            found = replace(found, server=self.config.server)
        if self._client is not None and self._client.credentials == found:
            return None if found == self._refused_credentials else self._client
        self._close_client()
        self._adopt(found)
        if found == self._refused_credentials:
            return None
        self._client = Client(found, self.config.timeout_s, self.config.ca_file)
        return self._client

    def _adopt(self, found: Credentials) -> None:
        """Mirror new credentials into the store; another server or device reads the feed from the start."""
        server, device = self.store.sync_value("server"), self.store.sync_value("device_id")
        if (server, device) == (found.server, found.device_id):
            return
        values = {"server": found.server, "device_id": found.device_id}
        if server is not None or device is not None:
            values.update(cursor="", acked_cursor="", missing_seq="[]")
        self.store.set_sync_values(values)
        self._next_pull = 0.0
        self.backoff.reset()
        log("sync_provisioned", server=found.server, device=found.device_id, previous_device=device or "-")

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the lock and the state --------------------------------------------------------------------
    def _acquire(self) -> bool:
        if self._lock_file is not None:
            return True
        handle = self.lock_path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing drops the flock
            self._lock_file = None

    def _set_state(self, new: State, detail: str) -> None:
        with self._state_lock:
            old = (self.store.sync_value("state"), self.store.sync_value("state_detail") or "")
            if old == (new.value, detail):
                return
            self.store.set_sync_values({"state": new.value, "state_detail": detail})
        if old[0] != new.value:
            level = logging.INFO if new in (State.OK, State.UNPROVISIONED, State.STANDBY) else logging.WARNING
            log("sync_state", level=level, state=new.value, previous=old[0] or "-", detail=detail)
