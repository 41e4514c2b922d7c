"""Text no database can store, found in a request body as it streams in: NUL characters (``\\u0000``)
and lone UTF-16 surrogates (``\\ud800`` without its pair), written as JSON escapes.

PostgreSQL cannot store NUL in text, neither database can encode a lone surrogate, and no name,
number or note has a real use for either; without this guard such a request would fail in the driver.
The scanner looks at each chunk once, keeping only the last few bytes for an escape split between
two chunks, so it never holds a body (``server.core.bodyguard`` feeds it).
"""

from __future__ import annotations

import re

LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
NUL = b"\\u0000"
ESCAPE = 6  # bytes of one \uXXXX escape
NUL_TEXT = "a NUL character (\\u0000)"
SURROGATE_TEXT = "a lone UTF-16 surrogate (not a character)"


class Scanner:
    """Feed a body chunk by chunk; ``feed`` names what it found, or returns None.

    A surrogate escape is judged once the escape after it has arrived (or the body ended), with the
    escape before it still in view: a pair split between chunks is not taken for two lone halves.
    """

    def __init__(self) -> None:
        self.window = b""  # the unjudged tail, with one escape of context before it
        self.judged = 0  # positions before this in ``window`` are judged

    def feed(self, chunk: bytes, final: bool) -> str | None:
        window = self.window + chunk
        if NUL in window:
            return NUL_TEXT
        # A match starting before ``limit`` has its escape and the next one in view.
        limit = len(window) if final else len(window) - 2 * ESCAPE
        found = LONE_SURROGATE.search(window, self.judged)
        if found is not None and found.start() < limit:
            return SURROGATE_TEXT
        keep = max(0, min(limit, len(window)) - ESCAPE)
        self.window = window[keep:]
        self.judged = max(0, limit - keep)
        return None
