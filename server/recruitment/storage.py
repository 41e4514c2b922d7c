"""One interface for the files recruitment keeps (pamphlets, documents, photos, certificates): a
folder under the server's data directory by default. Keys are made here, never from a client's name."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from server.core.errors import NotFound


class Storage(Protocol):
    def put(self, prefix: str, data: bytes, suffix: str) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class FolderStorage:
    """Files in ``root/<prefix>/<random>.<suffix>``, written to a temporary name and renamed, so a
    reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, prefix: str, data: bytes, suffix: str) -> str:
        folder = self.root / prefix
        folder.mkdir(parents=True, exist_ok=True)
        key = f"{prefix}/{secrets.token_hex(16)}.{suffix}"
        target = self.root / key
        partial = target.with_suffix(".part")
        with partial.open("wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        partial.replace(target)
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"the stored file {key} is missing")
        return path.read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise NotFound(f"no stored file {key}")
        return path
