"""Series: an RFC 5545 RRULE (a subset) expanded in wall-clock time of its time zone, so a weekly
practicum stays at 08:00 across a daylight-saving change.

The subset: FREQ=DAILY or WEEKLY, INTERVAL, BYDAY (plain weekdays), COUNT or UNTIL, WKST. Anything
else is refused with a message naming the part.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

MAX_OCCURRENCES = 500
PARTS = {"FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL", "WKST"}
DAYS = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"}


class RuleProblem(ValueError):
    """The RRULE or time zone cannot be used; the message says which part and why."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleProblem(f"unknown time zone {name!r}; use an IANA name like Asia/Jakarta") from exc


def check(rule: str) -> str:
    """The rule, normalised (upper case, no RRULE: prefix), or RuleProblem naming the faulty part."""
    text = rule.strip().upper().removeprefix("RRULE:")
    if not text or len(text) > 500:
        raise RuleProblem("the RRULE is empty or longer than 500 characters")
    parts: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise RuleProblem(f"the RRULE part {item!r} is not NAME=VALUE")
        if name not in PARTS:
            raise RuleProblem(f"the RRULE part {name} is not supported; use FREQ, INTERVAL, BYDAY, COUNT, UNTIL")
        if name in parts:
            raise RuleProblem(f"the RRULE names {name} twice")
        parts[name] = value
    if parts.get("FREQ") not in ("DAILY", "WEEKLY"):
        raise RuleProblem(f"FREQ must be DAILY or WEEKLY (got {parts.get('FREQ')!r})")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleProblem("an RRULE has COUNT or UNTIL, not both")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise RuleProblem("the RRULE needs COUNT or UNTIL: a series must end")
    for name in ("INTERVAL", "COUNT"):
        if name in parts and not re.fullmatch(r"[1-9][0-9]{0,3}", parts[name]):
            raise RuleProblem(f"{name} must be a whole number from 1 to 9999 (got {parts[name]!r})")
    if "BYDAY" in parts and not all(d in DAYS for d in parts["BYDAY"].split(",")):
        raise RuleProblem(f"BYDAY takes plain weekdays MO,TU,WE,TH,FR,SA,SU (got {parts['BYDAY']!r})")
    if "UNTIL" in parts and not re.fullmatch(r"\d{8}(T\d{6}Z?)?", parts["UNTIL"]):
        raise RuleProblem(f"UNTIL must be a date (20270131) or a UTC time (20270131T235959Z), got {parts['UNTIL']!r}")
    return text


def expand(rule: str, first_start: datetime, tz: ZoneInfo, limit: datetime, strict: bool = True) -> list[datetime]:
    """The occurrence starts (aware, in ``tz``) of ``rule`` from ``first_start``; RuleProblem when the
    series runs past ``limit`` or past MAX_OCCURRENCES (``strict``), else those up to ``limit``."""
    text = check(rule)
    local = first_start.astimezone(tz).replace(tzinfo=None) if first_start.tzinfo else first_start
    if "UNTIL" in text:  # dateutil wants UNTIL in the same kind as DTSTART: naive local wall time
        until = re.search(r"UNTIL=([0-9TZ]+)", text)
        assert until is not None
        value = until.group(1)
        if value.endswith("Z"):
            moment = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).astimezone(tz)
            naive = moment.replace(tzinfo=None).strftime("%Y%m%dT%H%M%S")
        else:
            naive = value if "T" in value else value + "T235959"
        text = text.replace(f"UNTIL={value}", f"UNTIL={naive}")
    try:
        rules = rrulestr(text, dtstart=local)
    except (ValueError, TypeError) as exc:
        raise RuleProblem(f"the RRULE cannot be read: {exc}") from exc
    starts: list[datetime] = []
    for moment in rules:
        aware = _wall(moment, tz)
        if aware > limit:
            if not strict:
                break
            raise RuleProblem(f"the series runs past {limit.date().isoformat()}, the furthest this room can be "
                              f"booked; end it sooner (COUNT or UNTIL)")
        starts.append(aware)
        if len(starts) > MAX_OCCURRENCES and strict:
            raise RuleProblem(f"the series has more than {MAX_OCCURRENCES} occurrences")
    return starts


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in ``tz``; a time that does not exist (the spring gap) moves past the gap."""
    aware = moment.replace(tzinfo=tz)
    back = aware.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != moment:
        return (aware.astimezone(UTC) + timedelta(0)).astimezone(tz)
    return aware
