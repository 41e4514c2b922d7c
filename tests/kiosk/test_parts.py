"""The kiosk's parts on their own: event ids and times, k-of-n votes with identity flips, the
tracker, the door's priorities, the string catalogue, PIN hashes and their rate limit, QR tokens,
the config's errors, sd_notify."""

from __future__ import annotations

import re
import socket
import string
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from device import config as device_config
from device.config import SettingsError
from device.events import Event, iso_utc, new_event, uuid7
from device.watchdog import Watchdog, notify
from kiosk.door import Box, Door, Greeting, View
from kiosk.pin import PinGate, PinHashError, hash_pin, verify_pin
from kiosk.qr import TokenError, public_key_from_b64, verify_token
from kiosk.strings import CATALOGUE, LANGUAGES
from kiosk.tracker import Tracker
from models.decision import Decision, Outcome
from models.detector import Face
from models.votes import Vote
from tests.kiosk.conftest import ROOT, TokenMaker


def test_uuid7_is_version_7_and_sorts_by_time() -> None:
    ids = [uuid7(1_700_000_000_000 + i) for i in range(50)]
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids)
    assert int(uuid.UUID(ids[0]).hex[:12], 16) == 1_700_000_000_000


def test_event_times_and_rules() -> None:
    assert iso_utc(1732262400.123) == "2024-11-22T08:00:00.123Z"
    event = new_event("2201", "accept", "face", 1_800_000_000.5, score=0.73121, margin=0.2, model_id="m")
    assert event.score == 0.7312 and not event.clock_suspect and event.captured_at.endswith(".500Z")
    assert new_event(None, "unknown", "face", 10.0, score=0.1, margin=0.0, model_id="m").clock_suspect  # 1970
    assert new_event("2201", "accept", "pin", time.time(), clock_offset_s=900).clock_suspect
    with pytest.raises(ValueError, match="outcome"):
        new_event("2201", "look_again", "face", time.time())
    with pytest.raises(ValueError, match="person"):
        Event("x", None, "accept", "pin", None, None, None, "t")
    with pytest.raises(ValueError, match="face events only"):
        Event("x", "2201", "accept", "pin", 0.5, 0.1, "m", "t")


def _d(outcome: Outcome, person: str | None, score: float = 0.8) -> Decision:
    return Decision(outcome, person if outcome is Outcome.ACCEPT else None, person, score, 0.3)


def test_vote_needs_k_of_n_and_a_flip_resets_it() -> None:
    vote = Vote(3, 5)
    assert vote.add(_d(Outcome.ACCEPT, "a")) is None
    assert vote.add(_d(Outcome.LOOK_AGAIN, "a", 0.5)) is None
    assert vote.add(_d(Outcome.ACCEPT, "a")) is None
    verdict = vote.add(_d(Outcome.ACCEPT, "a", 0.9))
    assert verdict is not None and verdict.outcome is Outcome.ACCEPT and verdict.person == "a"
    assert verdict.score == pytest.approx((0.8 + 0.8 + 0.9) / 3)

    flip = Vote(3, 5)
    flip.add(_d(Outcome.ACCEPT, "a"))
    flip.add(_d(Outcome.ACCEPT, "a"))
    assert flip.add(_d(Outcome.ACCEPT, "b")) is None and flip.flips == 1 and len(flip.window) == 1
    assert flip.add(_d(Outcome.ACCEPT, "b")) is None
    verdict = flip.add(_d(Outcome.ACCEPT, "b"))
    assert verdict is not None and verdict.person == "b"

    stranger = Vote(3, 5)
    results = [stranger.add(_d(Outcome.UNKNOWN, "a", 0.1)) for _ in range(3)]
    assert results[:2] == [None, None] and results[2] is not None and results[2].outcome is Outcome.UNKNOWN

    grey = Vote(3, 5)
    out = [grey.add(_d(Outcome.LOOK_AGAIN, "a", 0.5)) for _ in range(5)]
    assert out[-1] is not None and out[-1].outcome is Outcome.LOOK_AGAIN


def _face(x: float, y: float, size: float) -> Face:
    return Face(np.array([x, y, x + size, y + size * 1.2], np.float32), 0.99, np.zeros((5, 2), np.float32))


def test_tracker_follows_a_face_walking_sideways_and_ends_lost_tracks() -> None:
    tracker = Tracker(3, 5, min_iou=0.3, ttl_s=0.5)
    first = tracker.update([_face(100, 100, 100)], 0.0, 0.0)[0].id
    for i in range(1, 10):  # 45 px per frame: consecutive boxes overlap less than 0.3 late in the walk
        tracks = tracker.update([_face(100 + 45 * i, 100, 100)], i / 12, 0.0)
        assert [t.id for t in tracks] == [first]
    tracks = tracker.update([_face(100, 100, 100), _face(500, 100, 60)], 1.0, 0.0)
    assert len(tracks) == 2 and tracks[0].size > tracks[1].size  # largest first
    assert tracker.update([], 2.0, 0.0) == []


def test_door_priorities() -> None:
    door = Door(greet_s=0.3, offer_s=0.3)
    assert door.snapshot().view is View.IDLE
    door.offline(True)
    assert door.snapshot().view is View.OFFLINE
    door.faces((Box((0, 0, 10, 10), "waiting"), Box((20, 0, 30, 10), "waiting")), True, False, None)
    snap = door.snapshot()
    assert snap.view is View.LOOKING and snap.prompt == "one_at_a_time"
    door.camera(True, "gone")
    assert door.snapshot().view is View.CAMERA_LOST
    door.recognised(Greeting("2201", "Siti", "face", time.time()))
    assert door.snapshot().view is View.RECOGNISED
    door.open_fallback()
    assert door.snapshot().view is View.FALLBACK
    time.sleep(0.35)
    assert door.snapshot().view is View.CAMERA_LOST  # the keypad and the greeting timed out
    version = door.snapshot().version
    assert door.snapshot().version == version


def test_every_string_has_both_languages_with_the_same_placeholders() -> None:
    fields = string.Formatter()
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LANGUAGES), key
        names = [{f for _, f, _, _ in fields.parse(entry[lang]) if f} for lang in LANGUAGES]
        assert names[0] == names[1], key
    for view in View:
        if view is not View.FALLBACK:
            assert f"{view.value}.title" in CATALOGUE and f"{view.value}.subtitle" in CATALOGUE
    from models import quality

    for reason in quality.REASON_TEXT:
        assert f"prompt.{reason}" in CATALOGUE
    for reason in ("used", "expired", "not_yet_valid", "signature", "malformed", "inactive", "no_key", "disabled"):
        assert f"notice.qr_{reason}" in CATALOGUE


def test_pin_hash_follows_the_contract_and_refuses_bad_hashes() -> None:
    encoded = hash_pin("4321")
    assert re.fullmatch(r"scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+", encoded)
    assert verify_pin("4321", encoded) and not verify_pin("4322", encoded) and not verify_pin("43x1", encoded)
    # A hash made with hashlib directly, as the server makes it.
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    made = hashlib.scrypt(b"2468", salt=salt, n=16384, r=8, p=1, dklen=32)
    assert verify_pin("2468", f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(made).decode()}")
    for bad in ("bcrypt$x", "scrypt$16384$8$1$!!$xx", "scrypt$1048576$8$1$YQ==$YQ==", "scrypt$1000$8$1$YQ==$YQ=="):
        with pytest.raises(PinHashError):
            verify_pin("1234", bad)


def test_pin_gate_locks_doubles_and_caps_guessing_across_numbers() -> None:
    now = [0.0]
    gate = PinGate(max_failures=3, lock_s=30, lock_max_s=100, per_minute=10, clock=lambda: now[0])
    assert [gate.failed("a") for _ in range(3)] == [2, 1, 0]
    assert gate.wait("a") == 30 and gate.wait("b") == 0
    now[0] = 31
    assert gate.wait("a") == 0
    for _ in range(3):
        gate.failed("a")
    assert gate.wait("a") == 60  # doubled
    now[0] = 200
    gate.succeeded("a")
    for i in range(10):
        gate.failed(f"n{i}")  # one try on many numbers
    assert gate.wait("someone-else") == pytest.approx(60)


def test_qr_tokens_are_checked_offline() -> None:
    maker = TokenMaker()
    key = public_key_from_b64(maker.public_b64)
    now = time.time()
    claim = verify_token(maker.token("2201234567"), key, now)
    assert claim.number == "2201234567" and claim.exp > now
    other = TokenMaker()
    cases = {
        "signature": other.token("2201234567"),
        "expired": maker.token("2201234567", lifetime=60, issued=now - 600),
        "not_yet_valid": maker.token("2201234567", issued=now + 3600),
        "malformed": "LG2.abc.def",
    }
    for reason, token in cases.items():
        with pytest.raises(TokenError) as info:
            verify_token(token, key, now)
        assert info.value.reason == reason
    body, signature = maker.token("x").split(".")[1:]
    with pytest.raises(TokenError) as info:
        verify_token(f"LG1.{body[:-2]}.{signature}", key, now)  # payload changed: the signature fails
    assert info.value.reason in ("signature", "malformed")
    with pytest.raises(TokenError):
        public_key_from_b64("bm90IGEga2V5")


def test_config_errors_name_the_key_and_the_choices(tmp_path: Path) -> None:
    config = device_config.load(ROOT / "config.toml")
    assert config.kiosk.vote == (3, 5) and config.camera.kind == "auto" and config.engine.face_selection == "largest"
    cases = {
        '[camera]\nkind = "webcam"\n': r"\[camera\] kind = 'webcam'.*picamera2",
        "[kiosk]\nvote = [6, 5]\n": r"\[kiosk\] vote",
        "[kiosk]\nspeed = 3\n": r"\[kiosk\] has unknown keys \['speed'\]",
        '[http]\nport = "80"\n': r"\[http\] port = '80': use a whole number",
        "[screen]\nlanguage = \"fr\"\n": r"\[screen\] language = 'fr'",
        "[fallback]\npin_lock_s = 0\n": r"\[fallback\] pin_lock_s",
        "[camera\n": "not valid TOML",
    }
    for text, message in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(text)
        with pytest.raises(SettingsError, match=message):
            device_config.load(path)


def test_sd_notify_reaches_the_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("READY=1")
        assert server.recv(100) == b"READY=1"
        monkeypatch.setenv("WATCHDOG_USEC", "2000000")
        dog = Watchdog()
        assert dog.interval == 1.0
        dog.ping()
        dog.ping()  # the second within the interval is not sent
        assert server.recv(100) == b"WATCHDOG=1"
        with pytest.raises(TimeoutError):
            server.settimeout(0.2)
            server.recv(100)
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not notify("READY=1")
