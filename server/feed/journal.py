"""Note a change kiosks must learn; the journal row commits with the change itself.

Kiosks page through the journal by ``seq`` and never look back, so a row must never become visible
below a position a kiosk has already passed. A sequence number given out at insert breaks that on
PostgreSQL: a transaction that took seq 7 and commits after another took seq 8 and committed leaves
7 unseen by a kiosk that already read up to 8 (an erasure that never reaches it). So notes wait in
the session until its commit, and the rows are written at the very end of the transaction, after
every other change is flushed and under a transaction-scoped advisory lock held to the commit:
journal rows are numbered in commit order. The lock is the last thing such a transaction takes, so
it cannot deadlock with row locks. SQLite lets one writer at a time and needs no lock.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session

from server.core.clock import utcnow
from server.feed.tables import FeedChange

Kind = Literal["person", "template", "template_removed", "tombstone", "booking"]

PENDING = "labgate_feed_pending"
LOCK_KEY = 0x4C47_4645_4544  # "LGFEED": one key for every writer of the journal, in any process


def note(session: Session, kind: Kind, ref: str) -> None:
    """Journal a change; the row is written when ``session`` commits (and dropped if it rolls back)."""
    if not session.in_transaction():
        session.begin()  # so a rollback before any other statement still drops the note
    session.info.setdefault(PENDING, []).append({"kind": kind, "ref": ref, "at": utcnow()})


def lock(session: Session) -> None:
    """Take the journal's lock until this transaction ends (PostgreSQL; SQLite needs none)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[dict[str, Any]] = session.info.get(PENDING) or []
    if not pending or session.in_nested_transaction():
        return
    session.flush()  # every other change first: after the lock this transaction waits for nothing
    lock(session)
    session.execute(insert(FeedChange), pending)
    session.info.pop(PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction: committed (written) or rolled back
        session.info.pop(PENDING, None)
