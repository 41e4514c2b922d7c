"""Gaps in a kiosk's event sequence: seq runs from 1 and is never reused, so a hole means events
the server has not received yet (or lost on the device)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.presence.tables import Event


def missing(session: Session, device_id: str, cap: int = 1000) -> list[list[int]]:
    """[first, last] ranges of missing seq numbers below the highest received one, at most ``cap``.

    The usual answer, no gap, comes from one pass over the (device_id, seq) index in order (the
    distinct seqs counted without a sort): the lowest is 1 and there are as many as the highest.
    Only a sequence with a gap is walked again to find where."""
    seqs = select(Event.seq.label("seq")).where(Event.device_id == device_id).distinct().subquery()
    lowest, highest, distinct = session.execute(
        select(func.min(seqs.c.seq), func.max(seqs.c.seq), func.count())).one()
    if lowest is None or (lowest == 1 and distinct == highest):
        return []
    ranges = [[1, lowest - 1]] if lowest > 1 else []
    following = select(seqs.c.seq, func.lead(seqs.c.seq).over(order_by=seqs.c.seq).label("nxt")).subquery()
    rows = session.execute(select(following.c.seq, following.c.nxt).where(following.c.nxt - following.c.seq > 1)
                           .order_by(following.c.seq).limit(cap))
    ranges.extend([int(seq) + 1, int(nxt) - 1] for seq, nxt in rows)
    return ranges[:cap]


def summary(session: Session, device_id: str) -> tuple[int, int | None]:
    """(events stored, highest seq)."""
    count, top = session.execute(select(func.count(), func.max(Event.seq)).where(Event.device_id == device_id)).one()
    return int(count), (int(top) if top is not None else None)
