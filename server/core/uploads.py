"""Read an uploaded file into memory without ever holding more than its limit."""

from __future__ import annotations

from fastapi import UploadFile

from server.core.errors import TooLarge

CHUNK = 1 << 16


async def read_limited(upload: UploadFile, limit: int, what: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"{what} {upload.filename or ''} is over the {limit:,}-byte limit "
                           f"(read {size:,} bytes so far); send a smaller file".replace("  ", " "))
        parts.append(chunk)
    return b"".join(parts)
