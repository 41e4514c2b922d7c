"""The sender: drains the outbox through the channel adapters, inside every server process.

It keeps up to ``notify_concurrency`` messages in flight per channel, claims more as they finish, and
settles each with what its channel said. A channel answered with 429 and ``Retry-After`` rests
for that long (this process). Database work runs in threads; sending is asyncio. Several processes
share one outbox through the claims (``claims.py``). ``drain()`` sends what is due now and returns
(``labgate-server notify --once``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from server.core.database import Database
from server.notifications import claims
from server.notifications.channels.base import Adapter, Outcome, Outgoing, Retry
from server.notifications.kinds import Channel
from server.notifications.metrics import ATTEMPTS
from server.notifications.settings import NotifySettings

log = logging.getLogger("labgate.notifications")

BATCH = 50  # most messages one claim takes
GATHER_SECONDS = 0.01  # outcomes arriving this close together are settled in one transaction
STOP_GRACE_SECONDS = 5.0


class Sender:
    """One process's sender: claims, sends through the adapters, settles; ``run`` or ``drain``."""

    def __init__(self, database: Database, settings: NotifySettings, adapters: Mapping[Channel, Adapter]) -> None:
        self.database = database
        self.settings = settings
        self.adapters = dict(adapters)
        self.resting: dict[Channel, float] = {}  # channel -> monotonic time its Retry-After ends
        self.tally: Counter[str] = Counter()
        self._inflight: dict[asyncio.Task[None], Outgoing] = {}
        self._outcomes: list[tuple[Outgoing, Outcome, asyncio.Future[str | None]]] = []
        self._wake = asyncio.Event()
        self._stopping = False

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set (the app's lifespan), then finish or give back what is in flight."""
        log.info("event=notify_sender_start channels=%s", ",".join(c.value for c in self.adapters))
        settler = asyncio.create_task(self._settle_forever())
        try:
            await self._loop(stop, until_idle=False)
        finally:
            await self._wind_down(settler)

    async def drain(self) -> Counter[str]:
        """Send every message due now, wait for their outcomes, and return the tally by new status."""
        settler = asyncio.create_task(self._settle_forever())
        try:
            await self._loop(None, until_idle=True)
        finally:
            await self._wind_down(settler)
        return self.tally

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()

    async def _loop(self, stop: asyncio.Event | None, until_idle: bool) -> None:
        while stop is None or not stop.is_set():
            claimed = 0
            for channel, adapter in self.adapters.items():
                busy = sum(1 for m in self._inflight.values() if m.channel is channel)
                room = adapter.concurrency - busy
                if room <= 0 or (busy and room < adapter.concurrency // 4) or \
                        self.resting.get(channel, 0.0) > time.monotonic():
                    continue  # claim in batches, not one message per completion
                try:
                    taken = await asyncio.to_thread(self._claim, channel, min(room, BATCH))
                except Exception:  # the database is away: try again after a pause, never crash the server
                    log.exception("event=notify_claim_failed channel=%s", channel.value)
                    taken = []
                for message in taken:
                    task = asyncio.create_task(self._deliver(adapter, message))
                    self._inflight[task] = message
                claimed += len(taken)
            if until_idle and not claimed and not self._inflight:
                return
            await self._wait(stop)

    async def _wait(self, stop: asyncio.Event | None) -> None:
        """Until a message finishes (room to claim more), a poll interval passes, or ``stop``."""
        waiting: set[asyncio.Future[Any]] = set(self._inflight)
        stopper: asyncio.Future[Any] | None = asyncio.ensure_future(stop.wait()) if stop is not None else None
        if stopper is not None:
            waiting.add(stopper)
        timeout = self.settings.notify_poll_seconds
        try:
            if waiting:
                await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(timeout)
        finally:
            if stopper is not None and not stopper.done():
                stopper.cancel()
        for task in [t for t in self._inflight if t.done()]:
            self._inflight.pop(task)

    async def _deliver(self, adapter: Adapter, message: Outgoing) -> None:
        limit = self.settings.notify_lease_seconds / 2  # settle well before another sender may take it
        try:
            outcome: Outcome = await asyncio.wait_for(adapter.send(message), timeout=limit)
        except TimeoutError:
            outcome = Retry(f"no outcome within {limit:.0f} s")
        except Exception as exc:  # an adapter bug must not lose the message: it is retried
            log.exception("event=notify_adapter_error channel=%s message=%s", message.channel.value, message.id)
            outcome = Retry(f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, Retry) and outcome.retry_after:
            until = time.monotonic() + outcome.retry_after
            self.resting[message.channel] = max(self.resting.get(message.channel, 0.0), until)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((message, outcome, future))
        self._wake.set()
        try:
            status = await future
        except Exception:  # the row stays claimed; its lease ends and it is sent again
            log.exception("event=notify_settle_failed message=%s", message.id)
            return
        kind = type(outcome).__name__.lower()
        ATTEMPTS.labels(channel=message.channel.value, outcome=kind).inc()
        self.tally[status or "lost"] += 1
        log.log(logging.DEBUG if kind == "sent" else logging.WARNING,
                "event=notify_attempt message=%s channel=%s attempt=%d outcome=%s status=%s%s", message.id,
                message.channel.value, message.attempts, kind, status,
                "" if kind == "sent" else f" error={getattr(outcome, 'error', '')!r}")

    async def _settle_forever(self) -> None:
        """Write outcomes as they come, a few at a time, one transaction for each few."""
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if not self._stopping:
                await asyncio.sleep(GATHER_SECONDS)
            await self._settle_gathered()

    async def _settle_gathered(self) -> None:
        batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            statuses = await asyncio.to_thread(self._settle_all, [(m, o) for m, o, _ in batch])
        except Exception as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), status in zip(batch, statuses, strict=True):
            if not future.done():  # its task may have been cancelled at a stop: the outcome is written all the same
                future.set_result(status)

    async def _wind_down(self, settler: asyncio.Task[None]) -> None:
        """Let what is in flight finish for a moment, write the outcomes, give back the claims of the rest."""
        _done, pending = await asyncio.wait(set(self._inflight), timeout=STOP_GRACE_SECONDS) if self._inflight \
            else (set(), set())
        unfinished = [self._inflight[task] for task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._inflight.clear()
        self._stopping = True  # the settler writes what it holds and ends; never cut off mid-write
        self._wake.set()
        await asyncio.gather(settler, return_exceptions=True)
        await self._settle_gathered()
        self._stopping, self._wake = False, asyncio.Event()
        if unfinished:
            try:
                await asyncio.to_thread(self._release, unfinished)
            except Exception:
                log.exception("event=notify_release_failed count=%d", len(unfinished))

    def _claim(self, channel: Channel, limit: int) -> list[Outgoing]:
        with self.database.session() as session:
            return claims.claim(session, channel, limit, self.settings.notify_lease_seconds)

    def _settle_all(self, outcomes: list[tuple[Outgoing, Outcome]]) -> list[str | None]:
        with self.database.session() as session:
            return claims.settle_all(session, outcomes, self.settings)

    def _release(self, messages: list[Outgoing]) -> None:
        with self.database.session() as session:
            claims.release(session, messages)
