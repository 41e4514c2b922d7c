"""QR fallback tokens: ``LG1.<base64url payload>.<base64url Ed25519 signature of the payload bytes>``,
payload ``{"number", "iat", "exp", "jti"}``, signed by the server and verified here offline with its
public key; and the scanner thread that looks for QR codes in the camera's newest frame."""

from __future__ import annotations

import base64
import binascii
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.logs import log
from kiosk.camera import Camera

PREFIX = "LG1"
PROVISION_PREFIX = "labgate://provision?"
MAX_TOKEN = 2048


class TokenError(ValueError):
    """A QR token is refused; ``reason`` is a stable code the screen translates."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason  # malformed | signature | expired | not_yet_valid | used | no_key


@dataclass(frozen=True)
class QrClaim:
    number: str
    iat: int
    exp: int
    jti: str


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """The server's raw 32-byte Ed25519 public key, base64 (as the changes feed carries it)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise TokenError("no_key", f"the QR public key is not 32 bytes of base64: {exc}") from exc


def verify_token(token: str, key: Ed25519PublicKey, now: float, skew_s: float = 60.0) -> QrClaim:
    """The claim of a valid token; TokenError otherwise (the ``jti`` check is the store's)."""
    if len(token) > MAX_TOKEN:
        raise TokenError("malformed", f"token is {len(token)} characters")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("malformed", "not an LG1.<payload>.<signature> token")
    try:
        payload, signature = _b64url(parts[1]), _b64url(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise TokenError("malformed", f"bad base64url: {exc}") from exc
    try:
        key.verify(signature, payload)
    except InvalidSignature as exc:
        raise TokenError("signature", "not signed by this kiosk's server") from exc
    try:
        claims = json.loads(payload)
        number, iat, exp, jti = claims["number"], claims["iat"], claims["exp"], claims["jti"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed", f"payload lacks number, iat, exp or jti: {exc}") from exc
    if not (isinstance(number, str) and number and isinstance(jti, str) and jti
            and isinstance(iat, int) and isinstance(exp, int)):
        raise TokenError("malformed", "number and jti must be strings, iat and exp whole seconds")
    if exp < now - skew_s:
        raise TokenError("expired", f"expired {now - exp:.0f} s ago")
    if iat > now + skew_s:
        raise TokenError("not_yet_valid", f"issued {iat - now:.0f} s in the future")
    return QrClaim(number, iat, exp, jti)


def qr_detector() -> cv2.GraphicalCodeDetector:
    """OpenCV's ArUco-based QR detector. The classic ``cv2.QRCodeDetector`` found no code at all in 103
    of 2,000 signed tokens drawn cleanly at 6 px a module (so those students could never sign in by QR);
    this one read 1,000 of 1,000, in 10.4 ms against 13.0 ms median on a 640x480 frame. Not thread-safe:
    one per thread."""
    return cv2.QRCodeDetectorAruco()


def code_covers(rgb: np.ndarray, box: np.ndarray, detector: cv2.GraphicalCodeDetector) -> bool:
    """Whether a QR code in the frame covers the centre of ``box`` (x1, y1, x2, y2, camera pixels).

    MTCNN now and then takes the modules of a code held up on a phone for a face that passes the quality
    gate (5 of 2,617 short texts drawn at 7 px a module, scores up to 0.96; 3 of 6,000 signed tokens at
    6 px); such a "face" is not a stranger at the door. The code's outline is found by ``detector`` (from
    ``qr_detector()``: about 3 ms on a 640x480 frame on this CPU, and no outline in 300 face photos); the
    centre may lie up to a tenth of the code's side outside it (the quiet zone around the modules)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    found, points = detector.detect(grey)
    if not found or points is None:
        return False
    quad = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    side = float(max(np.ptp(quad[:, 0]), np.ptp(quad[:, 1])))
    centre = (float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2)
    return cv2.pointPolygonTest(quad, centre, True) >= -0.1 * side


class QrScanner:
    """Looks for a QR code in the camera's newest frame ``hz`` times a second, off the loop's thread;
    each new text goes to ``found`` once (the same code held up is not read again for ``repeat_s``).
    A server's provisioning payload (``labgate://provision?...``) goes to ``provision`` instead, when set."""

    def __init__(self, camera: Camera, hz: float = 4.0, repeat_s: float = 10.0) -> None:
        self.camera = camera
        self.period = 1.0 / hz
        self.repeat_s = repeat_s
        self.found: queue.Queue[str] = queue.Queue(maxsize=16)
        self.provision: Callable[[str], object] | None = None  # sync's provisioning (technician mode)
        self._seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qr", daemon=True)
        self._detector = qr_detector()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> QrScanner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def scan(self, rgb: object) -> str | None:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # type: ignore[call-overload]
        text, _points, _ = self._detector.detectAndDecode(grey)
        return text or None

    def _run(self) -> None:
        last_index = 0
        while not self._stop.wait(self.period):
            frame = self.camera.latest()
            if frame is None or frame.index == last_index:
                continue
            last_index = frame.index
            try:
                text = self.scan(frame.rgb)
            except cv2.error as exc:
                log("qr_scan_failed", error=str(exc))
                continue
            if not text:
                continue
            now = time.monotonic()
            self._seen = {k: v for k, v in self._seen.items() if now - v < self.repeat_s}
            if text in self._seen:
                continue
            self._seen[text] = now
            if self.provision is not None and text.startswith(PROVISION_PREFIX):
                self.provision(text)
                continue
            try:
                self.found.put_nowait(text)
            except queue.Full:
                log("qr_dropped", reason="queue full")
