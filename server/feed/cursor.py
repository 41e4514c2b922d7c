"""Feed cursors: ``c:<position>``, opaque to kiosks; no cursor means from the start."""

from __future__ import annotations

import re

from server.core.errors import BadRequest

PATTERN = re.compile(r"^c:(0|[1-9][0-9]{0,17})$")


def parse(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    found = PATTERN.fullmatch(cursor)
    if not found:
        raise BadRequest(f"cursor {cursor[:40]!r} is not one this server gave; send the next_cursor of the last "
                         f"page, or no cursor to start from the beginning", [(["query", "cursor"], "unknown cursor")])
    return int(found.group(1))


def render(position: int) -> str:
    return f"c:{position}"
