"""The fallback for a student the camera does not recognise: NIM + PIN on the keypad, or a QR token
the server signed, shown to the camera. Both end in an event with ``method=pin|qr``.

The screen and the loop call this one service; it holds the rules (rate limit, PIN check, token
check, used token ids) and never the widgets.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.config import FallbackConfig
from device.logs import log
from device.store import PIN_ATTEMPTS, Store
from kiosk.door import Greeting
from kiosk.metrics import Metrics
from kiosk.pin import PinGate, PinHashError, hash_pin, verify_pin
from kiosk.presence import AlreadyUsed, Presence
from kiosk.qr import TokenError, public_key_from_b64, verify_token


@cache
def _dummy_hash() -> str:
    """Checked when a number is unknown, so a wrong number takes as long as a wrong PIN."""
    return hash_pin("000000")


@dataclass(frozen=True)
class Result:
    ok: bool
    reason: str  # accepted | wrong | locked | inactive | store_error | malformed | signature | expired | used | ...
    greeting: Greeting | None = None
    wait_s: float = 0.0
    tries_left: int | None = None


class Fallback:
    def __init__(self, store: Store, presence: Presence, metrics: Metrics, config: FallbackConfig) -> None:
        self.store, self.presence, self.metrics, self.config = store, presence, metrics, config
        self.gate = PinGate(config.pin_max_failures, config.pin_lock_s, config.pin_lock_max_s,
                            config.failures_per_minute)
        self._load_gate()

    # -- the PIN rate limit, kept in the store's settings (a restart must not unlock a number) --------
    def _load_gate(self) -> None:
        text = self.store.setting(PIN_ATTEMPTS)
        if not text:
            return
        try:
            self.gate.restore(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:  # a damaged row: start counting again, say so
            log("pin_attempts_unreadable", key=PIN_ATTEMPTS, error=str(exc))

    def _save_gate(self) -> None:
        try:
            self.store.set_setting(PIN_ATTEMPTS, json.dumps(self.gate.state(), separators=(",", ":")))
        except sqlite3.Error as exc:  # the keypad keeps working; the limit still holds until a restart
            log("pin_attempts_not_saved", error=str(exc))

    # -- NIM + PIN ---------------------------------------------------------------------------------
    def check_person(self, number: str, pin: str, roles: tuple[str, ...] = ()) -> Result:
        """Check a number and PIN against the store, rate-limited; no event (technician login uses this)."""
        number = number.strip()
        self._load_gate()  # the store is the truth: an erasure drops a number from it
        wait = self.gate.wait(number)
        if wait > 0:
            self.metrics.pin_attempts.labels("locked").inc()
            return Result(False, "locked", wait_s=wait)
        person = self.store.person(number) if number else None
        try:
            good = verify_pin(pin, person.pin_hash if person and person.pin_hash else _dummy_hash())
        except PinHashError as exc:
            log("pin_hash_invalid", number=number, error=str(exc))
            good = False
        good = good and person is not None and person.pin_hash is not None
        if good and person is not None and roles and not set(roles) & set(person.roles):
            good = False
        if not good:
            left = self.gate.failed(number)
            self._save_gate()
            self.metrics.pin_attempts.labels("wrong").inc()
            if left == 0:
                self.store.audit(number or "-", "pin.locked", wait_s=self.gate.wait(number))
                return Result(False, "locked", wait_s=self.gate.wait(number), tries_left=0)
            return Result(False, "wrong", tries_left=left)
        assert person is not None
        if not person.active:
            self.metrics.pin_attempts.labels("inactive").inc()
            return Result(False, "inactive")
        if self.gate.succeeded(number):
            self._save_gate()
        return Result(True, "accepted")

    def pin(self, number: str, pin: str) -> Result:
        checked = self.check_person(number, pin)
        if not checked.ok:
            return checked
        written = self.presence.accept_fallback(number.strip(), "pin")
        if written.event is None:
            return Result(False, "store_error")
        self.metrics.pin_attempts.labels("accepted").inc()
        log("decision", outcome="accept", method="pin", person=number.strip(), seq=written.event.seq)
        return Result(True, "accepted", written.greeting)

    # -- QR ----------------------------------------------------------------------------------------
    def public_key(self) -> Ed25519PublicKey | None:
        """The server's key as sync last stored it, else the one in config.toml."""
        text = self.store.setting("qr_public_key") or self.config.qr_public_key
        return public_key_from_b64(text) if text else None

    def qr(self, token: str) -> Result:
        if not self.config.qr:
            return Result(False, "disabled")
        try:
            key = self.public_key()
            if key is None:
                raise TokenError("no_key", "no QR public key on this kiosk yet (sync or [fallback] qr_public_key)")
            claim = verify_token(token, key, time.time() + self.presence.clock_offset(), self.config.qr_clock_skew_s)
            person = self.store.person(claim.number)
            if person is not None and not person.active:
                raise TokenError("inactive", claim.number)
            written = self.presence.accept_fallback(claim.number, "qr", qr_jti=(claim.jti, claim.exp))
        except TokenError as exc:
            self.metrics.qr_tokens.labels(exc.reason).inc()
            log("qr_refused", reason=exc.reason)
            self.presence.door.notice(f"qr_{exc.reason}")
            return Result(False, exc.reason)
        except AlreadyUsed:
            self.metrics.qr_tokens.labels("used").inc()
            log("qr_refused", reason="used")
            self.presence.door.notice("qr_used")
            return Result(False, "used")
        if written.event is None:
            return Result(False, "store_error")
        self.metrics.qr_tokens.labels("accepted").inc()
        log("decision", outcome="accept", method="qr", person=claim.number, seq=written.event.seq)
        return Result(True, "accepted", written.greeting)
