"""Opaque ids for server rows: random UUIDs as strings (the contract's ids are strings)."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
