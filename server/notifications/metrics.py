"""The notifications' Prometheus metrics. Queue figures are read from the database at scrape time, so
they are right however many processes send; attempts are counted per process (added up across
processes in multiprocess mode, see ``server.core.metrics``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from server.core.clock import utcnow
from server.core.database import Database
from server.notifications.kinds import Channel, Status
from server.notifications.tables import Message

log = logging.getLogger("labgate.notifications")

ATTEMPTS = Counter("labgate_notifications_attempts_total", "Send attempts by channel and outcome (sent, retry, "
                   "failed), counted by the processes that made them", ["channel", "outcome"], registry=None)


class OutboxCollector(Collector):
    """Messages per channel and status, and the age of the oldest message not yet sent, per channel."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts, oldest, up = self._families()
        try:
            with self.database.session() as session:
                found = {(c, s): n for c, s, n in session.execute(
                    select(Message.channel, Message.status, func.count()).group_by(Message.channel, Message.status))}
                first = dict(session.execute(
                    select(Message.channel, func.min(Message.created_at))
                    .where(Message.status.in_([Status.QUEUED.value, Status.SENDING.value]))
                    .group_by(Message.channel)).all())
        except Exception:  # a scrape must answer even when the database does not
            log.exception("event=metrics_outbox_failed")
            up.add_metric([], 0)
            yield up
            return
        now = utcnow()
        for channel in Channel:
            for status in Status:
                counts.add_metric([channel.value, status.value], found.get((channel.value, status.value), 0))
            since = first.get(channel.value)
            if since is not None and since.tzinfo is None:  # SQLite's MIN() comes back as text, without a zone
                since = since.replace(tzinfo=now.tzinfo)
            oldest.add_metric([channel.value], max((now - since).total_seconds(), 0.0) if since else 0.0)
        up.add_metric([], 1)
        yield from (counts, oldest, up)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("labgate_notifications_messages", "Messages in the outbox by channel and status "
                              "(queued, sending, sent, failed, dead), read from the database",
                              labels=["channel", "status"]),
            GaugeMetricFamily("labgate_notifications_oldest_queued_age_seconds", "Age of the oldest message not yet "
                              "sent (queued or sending), per channel; 0 when none", labels=["channel"]),
            GaugeMetricFamily("labgate_notifications_outbox_up", "1 when the outbox could be read at this scrape"),
        )
