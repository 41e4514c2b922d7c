"""The server's log lines, in the kiosk's format: ``ts=... level=... event=... key=value``, one line per
thing that happened, so `make run` (server and kiosk in one terminal) shows one format.

The server's own messages are already ``event=... key=value``; uvicorn's start-up lines become
``event=server message="..."`` and its access lines ``event=request client=... method=... path=...
status=...``. A traceback is folded into one quoted ``error=`` value.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

ACCESS = "uvicorn.access"


def value(text: Any) -> str:
    """A value as the kiosk writes it: bare, or quoted when it holds spaces, quotes or `=`."""
    shown = "-" if text is None else str(text)
    if not shown or any(c in shown for c in ' "=\n\t'):
        shown = '"' + shown.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return shown


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        text = f"ts={stamp} level={record.levelname.lower()} {self._message(record)}"
        if record.exc_info:
            text += " error=" + value(self.formatException(record.exc_info))
        return text

    @staticmethod
    def _message(record: logging.LogRecord) -> str:
        if record.name == ACCESS and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            return (f"event=request client={value(client)} method={value(method)} path={value(path)} "
                    f"http={value(version)} status={value(status)}")
        message = record.getMessage()
        if message.startswith("event="):
            return message
        return f"event=server message={value(message.strip())}"


def config(level: str = "info", access: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server and uvicorn (``uvicorn.run(log_config=...)``)."""
    handler = {"class": "logging.StreamHandler", "formatter": "kv", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"kv": {"()": f"{__name__}.KeyValueFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "labgate": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            ACCESS: {"handlers": ["stderr"] if access else [], "level": "INFO" if access else "WARNING",
                     "propagate": False},
            "alembic": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
    }


def setup(level: str = "info") -> None:
    """The same format for the command line's own logging (migrate, create-admin, pull-device)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
