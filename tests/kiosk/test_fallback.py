"""The fallback service: NIM + PIN with its rate limit, QR tokens verified offline and used once;
both end in events with method pin or qr."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import FallbackConfig
from kiosk.door import Door, View
from kiosk.fallback import Fallback
from kiosk.metrics import Metrics
from kiosk.pin import hash_pin
from kiosk.presence import Presence
from kiosk.store import Store
from tests.kiosk.conftest import TokenMaker


@pytest.fixture
def service(tmp_path: Path) -> tuple[Fallback, Store, Door]:
    store = Store(tmp_path / "k.db")
    store.upsert_person("2201234567", "Siti Rahma", ("student",), hash_pin("4321"))
    store.upsert_person("2209999999", "Gone", ("student",), hash_pin("1111"), active=False)
    door = Door()
    presence = Presence(store, door, Metrics(), room="LAB-1")
    return Fallback(store, presence, presence.metrics, FallbackConfig(pin_max_failures=3)), store, door


def test_pin_accepts_the_right_pin_and_locks_after_failures(service: tuple[Fallback, Store, Door]) -> None:
    fallback, store, door = service
    assert fallback.pin("2201234567", "0000").reason == "wrong"
    ok = fallback.pin("2201234567", "4321")
    assert ok.ok and ok.greeting is not None and ok.greeting.name == "Siti Rahma"
    assert door.snapshot().view is View.RECOGNISED
    results = [fallback.pin("2201234567", "0000") for _ in range(3)]
    assert [r.reason for r in results] == ["wrong", "wrong", "locked"] and results[-1].wait_s > 0
    assert fallback.pin("2201234567", "4321").reason == "locked"  # even the right PIN waits
    assert fallback.pin("0000000000", "1234").reason == "wrong"  # an unknown number says no more
    assert fallback.pin("2209999999", "1111").reason == "inactive"
    events = store.events_after(0)
    assert [(e.person, e.method, e.score, e.model_id) for e in events] == [("2201234567", "pin", None, None)]
    assert any(row["action"] == "pin.locked" for row in store.audit_log())


def test_qr_token_is_verified_offline_and_used_once(service: tuple[Fallback, Store, Door],
                                                    tokens: TokenMaker) -> None:
    fallback, store, door = service
    token = tokens.token("2201234567")
    assert fallback.qr(token).reason == "no_key"  # no public key on the device yet
    store.set_setting("qr_public_key", tokens.public_b64)  # as sync stores it
    result = fallback.qr(token)
    assert result.ok and result.greeting is not None and result.greeting.method == "qr"
    assert fallback.qr(token).reason == "used"
    assert door.snapshot().notice == "qr_used"
    assert fallback.qr(TokenMaker().token("2201234567")).reason == "signature"
    assert fallback.qr(tokens.token("2209999999")).reason == "inactive"
    unknown_here = fallback.qr(tokens.token("2300000001"))  # signed by the server: recorded by number
    assert unknown_here.ok
    assert [(e.person, e.method) for e in store.events_after(0)] == [("2201234567", "qr"), ("2300000001", "qr")]


class _QrCamera:
    """Scripted hardware: a phone held up to the camera showing a QR code."""

    live, fps, name = True, 15.0, "qr-phone"

    def __init__(self, text: str) -> None:
        import cv2
        import numpy as np

        code = cv2.QRCodeEncoder.create().encode(text)
        code = cv2.resize(code, (code.shape[1] * 6, code.shape[0] * 6), interpolation=cv2.INTER_NEAREST)
        frame = np.full((480, 640), 140, np.uint8)
        frame[40:40 + code.shape[0], 150:150 + code.shape[1]] = code
        self.frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)

    def open(self) -> None:
        pass

    def read(self):  # type: ignore[no-untyped-def]
        import time

        time.sleep(1 / self.fps)
        return self.frame

    def close(self) -> None:
        pass


@pytest.mark.data
def test_a_qr_code_shown_to_the_camera_records_a_qr_event(store_path: Path, kiosk_engine,  # type: ignore[no-untyped-def]
                                                         tokens: TokenMaker) -> None:
    import time
    from dataclasses import replace

    from kiosk import config as kiosk_config
    from kiosk.kiosk import Kiosk
    from tests.kiosk.conftest import ROOT

    store = Store(store_path)
    store.set_setting("qr_public_key", tokens.public_b64)
    config = kiosk_config.load(ROOT / "config.toml")
    config = replace(config, http=replace(config.http, enabled=False))
    kiosk = Kiosk(config, source=_QrCamera(tokens.token("2201234567")), engine=kiosk_engine, store=store).start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not store.events_after(0):
            time.sleep(0.1)
        time.sleep(1.0)  # the same code, still held up, is not read twice
        events = store.events_after(0)
        assert [(e.person, e.method, e.outcome) for e in events] == [("2201234567", "qr", "accept")]
        assert kiosk.door.snapshot().view is View.RECOGNISED
    finally:
        kiosk.stop()
