"""Time on the wire: UTC, ISO 8601 with a Z and milliseconds (the contract's format), and the range of
days and times the server takes from clients (years 2000 to 2100: a clock outside it is wrong, and
arithmetic on year 1 or 9999 overflows)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
YEARS = r"^(20[0-9]{2}|2100)-"
"""The same range for JSON Schema (OpenAPI), which cannot bound a date: its year."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-11-22T08:15:02.123Z``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"  # without its "+00:00"


UtcTime = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-11-22T08:15:02.123Z"]}),
]


def in_range(moment: date) -> bool:
    """Is a day, or a time's day in its own offset, within [EARLIEST, LATEST]?"""
    day = moment.date() if isinstance(moment, datetime) else moment
    return EARLIEST <= day <= LATEST


def bounded(value: Any) -> Any:
    """A validator: the day or time if ``in_range``, else a field error saying the range."""
    if not in_range(value):
        shown = value.isoformat()
        raise PydanticCustomError("out_of_range", "must be from {earliest} to {latest} (got {value})",
                                  {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat(), "value": shown})
    return value


def _described(kind: str, example: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "format": kind, "pattern": YEARS, "examples": [example],
                           "description": f"from {EARLIEST} to {LATEST}"})


LabDay = Annotated[date, AfterValidator(bounded), _described("date", "2026-11-22")]
"""A day a client sends (a query's range, a correction): refused with 422 outside 2000..2100."""

LabTime = Annotated[datetime, AfterValidator(bounded), _described("date-time", "2026-11-22T08:15:02.123Z")]
"""A time a client sends, refused with 422 when its day (in its own offset) is outside 2000..2100."""
