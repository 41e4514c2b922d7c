"""PIN hashes (the contract's ``scrypt$N$r$p$<salt b64>$<hash b64>``, Python's hashlib, dklen 32) and
the rate limit on attempts: a few failures lock a number for a while (doubling up to a cap), and a
cap on failures per minute across all numbers stops anyone from trying one PIN on many numbers.

The gate's state is plain data (``state()`` / ``restore()``, times in Unix seconds) so the fallback
keeps it in the device store: pulling the plug does not unlock a number."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_N, DEFAULT_R, DEFAULT_P = 16384, 8, 1
DKLEN = 32
MAX_N, MAX_R, MAX_P = 1 << 17, 16, 4  # a hash from elsewhere must not exhaust the device's memory
PIN_LENGTHS = range(4, 9)


class PinHashError(ValueError):
    """A stored PIN hash is not in the contract's format."""


def valid_pin(pin: str) -> bool:
    return pin.isdigit() and pin.isascii() and len(pin) in PIN_LENGTHS


def hash_pin(pin: str, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    if not valid_pin(pin):
        raise ValueError(f"a PIN is {PIN_LENGTHS.start} to {PIN_LENGTHS.stop - 1} digits")
    salt = os.urandom(16)
    digest = _scrypt(pin, salt, n, r, p)
    fields = ["scrypt", str(n), str(r), str(p), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    return "$".join(fields)


def verify_pin(pin: str, encoded: str) -> bool:
    """True when ``pin`` matches; raises PinHashError when ``encoded`` is malformed."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PinHashError("a PIN hash is scrypt$N$r$p$<salt b64>$<hash b64>")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError as exc:
        raise PinHashError(f"PIN hash has a bad number or base64 field: {exc}") from exc
    if not (2 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= MAX_R and 1 <= p <= MAX_P) or not salt or not expected:
        raise PinHashError(f"PIN hash parameters N={n} r={r} p={p} are outside what this kiosk accepts")
    if not valid_pin(pin):
        return False
    return hmac.compare_digest(_scrypt(pin, salt, n, r, p, len(expected)), expected)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, dklen: int = DKLEN) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * n * r * p + (1 << 20))


@dataclass
class _Record:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0


class PinGate:
    """Who may try a PIN now. ``wait(number)`` is 0 when allowed, else seconds to wait. ``clock`` is
    wall time (Unix seconds) so that a saved state means the same after a restart."""

    def __init__(self, max_failures: int = 3, lock_s: float = 30.0, lock_max_s: float = 900.0,
                 per_minute: int = 10, clock: Callable[[], float] = time.time) -> None:
        self.max_failures, self.lock_s, self.lock_max_s, self.per_minute = max_failures, lock_s, lock_max_s, per_minute
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._recent: deque[float] = deque()
        self._global_until = 0.0
        self._lock = threading.Lock()

    def wait(self, number: str) -> float:
        now = self.clock()
        with self._lock:
            record = self._records.get(number)
            mine = record.locked_until - now if record else 0.0
            return max(0.0, mine, self._global_until - now)

    def failed(self, number: str) -> int:
        """Count a failure; returns the tries left before a lock (0 when now locked)."""
        now = self.clock()
        with self._lock:
            record = self._records.setdefault(number, _Record())
            record.failures += 1
            self._recent.append(now)
            while self._recent and now - self._recent[0] > 60:
                self._recent.popleft()
            if len(self._recent) >= self.per_minute:
                self._global_until = now + 60.0
            if record.failures >= self.max_failures:
                record.locked_until = now + min(self.lock_s * 2 ** record.lockouts, self.lock_max_s)
                record.lockouts += 1
                record.failures = 0
                return 0
            if len(self._records) > 10_000:  # bounded memory under a flood of made-up numbers
                self._records = {k: v for k, v in self._records.items() if v.locked_until > now}
            return self.max_failures - record.failures

    def succeeded(self, number: str) -> bool:
        """Forget a number's failures; True when there were any (the saved state changed)."""
        with self._lock:
            return self._records.pop(number, None) is not None

    def state(self) -> dict[str, Any]:
        """Everything the gate knows, as JSON-ready data: {number: [failures, lockouts, locked until]},
        the recent failures across all numbers, and the keypad-wide lock."""
        with self._lock:
            return {"numbers": {n: [r.failures, r.lockouts, r.locked_until] for n, r in self._records.items()},
                    "recent": list(self._recent), "locked_until": self._global_until}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a ``state()``. Waits are capped at the longest lock, so a clock set back while the
        kiosk was off cannot lock a number for longer than the config allows."""
        now = self.clock()
        records: dict[str, _Record] = {}
        for number, (failures, lockouts, locked_until) in dict(state.get("numbers", {})).items():
            until = min(float(locked_until), now + self.lock_max_s)
            records[str(number)] = _Record(int(failures), int(lockouts), until)
        recent = sorted(float(t) for t in state.get("recent", []) if now - 60 < float(t) <= now)
        with self._lock:
            self._records = records
            self._recent = deque(recent)
            self._global_until = min(float(state.get("locked_until", 0.0)), now + 60.0)
