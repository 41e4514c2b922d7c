"""Kiosk events as the contract writes them, for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

BASE = datetime(2026, 11, 22, 1, 15, 2, 123000, tzinfo=UTC)


def event(seq: int, person: str | None = "2201234567", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()), "seq": seq, "person": person, "outcome": "accept" if person else "unknown",
        "method": "face", "score": 0.7312, "margin": 0.2101, "model_id": "test-model",
        "captured_at": (BASE + timedelta(seconds=seq)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "clock_suspect": False,
    }
    body.update(changes)
    return body


def push(client: Any, kiosk: Any, events: list[Any], key: str | None = None) -> Any:
    return client.post(f"/api/v1/devices/{kiosk.id}/events:batch", json={"events": events},
                       headers={**kiosk.headers, "Idempotency-Key": key or str(uuid.uuid4())})
