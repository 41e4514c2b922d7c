"""Gaps in a kiosk's event sequence: seq runs from 1 and is never reused, so a hole means events
the server has not received yet (or lost on the device). Each device keeps a mark
(``devices.seq_contiguous``) below which every seq has arrived, so the gaps are looked for above it:
the work is the events since the first gap, not all the device ever sent."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.devices.tables import Device
from server.presence.tables import Event


def missing(session: Session, device_id: str, cap: int = 1000) -> list[list[int]]:
    """[first, last] ranges of missing seq numbers below the highest received one, at most ``cap``."""
    return _gaps(session, device_id, cap)[0]


def advance(session: Session, device_id: str, cap: int = 1000) -> list[list[int]]:
    """``missing``, and the device's mark raised to just below the first gap (or to the highest seq
    when there is none); in the caller's transaction. The mark only rises (a batch racing this one
    may have raised it further), and is written only when it moves."""
    ranges, mark, contiguous = _gaps(session, device_id, cap)
    if contiguous > mark:
        session.execute(update(Device).where(Device.id == device_id, Device.seq_contiguous < contiguous)
                        .values(seq_contiguous=contiguous))
    return ranges


def _gaps(session: Session, device_id: str, cap: int) -> tuple[list[list[int]], int, int]:
    """(the gaps above the mark, the mark, the highest seq below which nothing is missing).

    The usual answer, no gap, comes from one pass over the (device_id, seq) index above the mark (the
    distinct seqs counted without a sort): the lowest is the mark's next and there are as many as
    the span. Only a sequence with a gap is walked again to find where."""
    mark = int(session.scalar(select(Device.seq_contiguous).where(Device.id == device_id)) or 0)
    seqs = (select(Event.seq.label("seq")).where(Event.device_id == device_id, Event.seq > mark).distinct()
            .subquery())
    lowest, highest, distinct = session.execute(
        select(func.min(seqs.c.seq), func.max(seqs.c.seq), func.count())).one()
    if lowest is None:
        return [], mark, mark
    if lowest == mark + 1 and distinct == highest - mark:
        return [], mark, int(highest)
    ranges = [[mark + 1, lowest - 1]] if lowest > mark + 1 else []
    following = select(seqs.c.seq, func.lead(seqs.c.seq).over(order_by=seqs.c.seq).label("nxt")).subquery()
    rows = session.execute(select(following.c.seq, following.c.nxt).where(following.c.nxt - following.c.seq > 1)
                           .order_by(following.c.seq).limit(cap))
    ranges.extend([int(seq) + 1, int(nxt) - 1] for seq, nxt in rows)
    return ranges[:cap], mark, ranges[0][0] - 1


def summary(session: Session, device_id: str) -> tuple[int, int | None]:
    """(events stored, highest seq)."""
    count, top = session.execute(select(func.count(), func.max(Event.seq)).where(Event.device_id == device_id)).one()
    return int(count), (int(top) if top is not None else None)
