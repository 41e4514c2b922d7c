"""Structured logs: one line per event as ``key=value`` pairs; never embeddings, faces or secrets."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

LOGGER = logging.getLogger("labgate.kiosk")


def _value(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.0f}"
    elif value is None:
        text = "-"
    else:
        text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def line(event: str, **fields: Any) -> str:
    """``event=NAME key=value ...`` with values quoted when they hold spaces or quotes."""
    return " ".join([f"event={_value(event)}", *(f"{k}={_value(v)}" for k, v in fields.items())])


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    LOGGER.log(level, line(event, **fields))


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        text = f"ts={stamp} level={record.levelname.lower()} {record.getMessage()}"
        if record.exc_info:
            text += " error=" + _value(self.formatException(record.exc_info))
        return text


def setup(level: str = "info") -> None:
    """Log to stderr (systemd's journal takes it from there), flushed line by line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False
