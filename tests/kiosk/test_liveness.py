"""Liveness at the door, through the real kiosk on real frames (msu_mfsd_001: one person's live video
and three attack videos, the same person's face shown again to the camera): an attack on an enrolled
person logs no accept and one spoof event; the person's live frames are accepted as before. Also the
head turn, the [liveness] keys, the store's migration and the event's wire form."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from device import config as device_config
from device.config import LivenessConfig
from device.events import new_event
from device.migrations import MIGRATIONS
from device.store import Store
from kiosk.door import View
from kiosk.kiosk import Kiosk
from kiosk.liveness import LivenessGate, TrackLiveness
from kiosk.sources import FolderSource
from models import catalog
from models.datasets import image_files
from models.engine import FaceEngine
from models.images import read_image
from models.liveness import Liveness, LivenessChecker
from models.quality import pose
from models.settings import SettingsError
from tests.kiosk.conftest import ROOT

pytestmark = pytest.mark.data

PERSON = "MSU001"
ENROL_FRAMES = 6  # the live video's first frames enrol the person; the test walks up with later ones


@pytest.fixture(scope="module")
def msu(data_dir: Path) -> Path:
    return data_dir / "pad" / "msu_mfsd_001"


@pytest.fixture(scope="module")
def pad_models(model_dir: Path) -> Path:
    if not catalog.read_index(model_dir).get("pad"):
        pytest.skip(f"no liveness models in {model_dir}: `labgate-models build` with LABGATE_DATA makes them")
    return model_dir


@pytest.fixture
def msu_store(store_path: Path, kiosk_engine: FaceEngine, msu: Path) -> Path:
    """The enrolled demo store plus the MSU person, enrolled from the first live frames."""
    store = Store(store_path)
    vectors = []
    for path in image_files(msu / "live")[:ENROL_FRAMES]:
        results = kiosk_engine.analyse(read_image(path))
        assert results and results[0].embedding is not None, f"{path.name} should pass the quality gate"
        vectors.append(results[0].embedding)
    store.upsert_person(PERSON, "MSU subject 001", ("student",))
    store.add_templates(PERSON, kiosk_engine.model_id, np.stack(vectors), source="test:msu_mfsd_001")
    store.close()
    return store_path


def _folder(tmp_path: Path, frames: list[Path], name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for frame in frames:
        (folder / frame.name).symlink_to(frame)
    return folder


def _run(store_path: Path, engine: FaceEngine, folder: Path, **liveness: object) -> tuple[Kiosk, Store]:
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, camera=replace(config.camera, pace="lockstep", fps=10.0, loop=False),
                     http=replace(config.http, enabled=False), liveness=replace(config.liveness, **liveness))
    store = Store(store_path)
    kiosk = Kiosk(config, source=FolderSource(folder, 10.0, loop=False), engine=engine, store=store)
    assert kiosk.liveness is not None, "liveness is on for a camera-like source"
    kiosk.start(stop_at_end=True)
    kiosk.loop.join(300)
    assert kiosk.loop.ended, "the frames should have played to their end"
    kiosk.stop()
    return kiosk, store


@pytest.mark.parametrize("video", ["1", "2", "3"])
def test_an_attack_on_an_enrolled_person_logs_one_spoof_and_no_accept(video: str, msu_store: Path, msu: Path,
                                                                      kiosk_engine: FaceEngine, pad_models: Path,
                                                                      tmp_path: Path) -> None:
    """Acceptance 3, first half: each attack video (the enrolled person's face shown again to the camera)."""
    frames = [p for p in image_files(msu / "attack") if p.name.startswith(f"attack_{video}")]
    kiosk, store = _run(msu_store, kiosk_engine, _folder(tmp_path, frames, f"attack{video}"))
    events = store.events_after(0)
    assert [e.outcome for e in events] == ["spoof"], f"video {video}: {[(e.outcome, e.person) for e in events]}"
    spoof = events[0]
    assert spoof.person is None and spoof.method == "face" and spoof.model_id == kiosk.liveness.model_id
    assert spoof.score is not None and spoof.score < kiosk.liveness.thresholds.live
    assert kiosk.metrics.decisions.labels("spoof", "face")._value.get() == 1
    store.close()


def test_the_same_persons_live_frames_are_accepted(msu_store: Path, msu: Path, kiosk_engine: FaceEngine,
                                                   pad_models: Path, tmp_path: Path) -> None:
    """Acceptance 3, second half: the live video's later frames (not the enrolment's) are accepted."""
    frames = image_files(msu / "live")[ENROL_FRAMES + 20:]
    _kiosk, store = _run(msu_store, kiosk_engine, _folder(tmp_path, frames, "live"))
    events = store.events_after(0)
    assert [(e.outcome, e.person) for e in events] == [("accept", PERSON)]
    store.close()


def test_a_face_in_the_grey_zone_is_live_once_the_head_turns(pad_models: Path, kiosk_engine: FaceEngine,
                                                             data_dir: Path) -> None:
    """Real faces of one person (att_faces s1, photos at several yaws): a turn beyond turn_yaw is live, and
    no turn within turn_s is an attack."""
    faces = []
    for path in image_files(data_dir / "att_faces" / "s1"):
        rgb = read_image(path)
        found = kiosk_engine.detector.detect(rgb, replace(kiosk_engine.detector.settings, min_face=20))
        if found:
            faces.append((pose(found[0])[0], rgb, found[0]))
    faces.sort(key=lambda f: f[0])
    assert faces[-1][0] - faces[0][0] > 0.12, "att_faces s1 should hold turned heads"
    config = LivenessConfig(threshold=0.0, grey_top=1.0, frames=2, turn_yaw=0.12, turn_s=4.0)  # every score: unsure
    gate = LivenessGate(LivenessChecker.from_dir(pad_models), config)
    straight, turned = faces[0], faces[-1]

    state = TrackLiveness()
    assert gate.check(state, straight[1], straight[2], 0.0) is None
    assert gate.check(state, straight[1], straight[2], 0.1) is Liveness.UNSURE and state.asking_turn
    assert gate.turn(state, straight[2], 1.0) is None, "no turn yet: still waiting"
    assert gate.turn(state, turned[2], 2.0) is Liveness.LIVE and state.why == "turn"

    still = TrackLiveness()
    gate.check(still, straight[1], straight[2], 0.0)
    gate.check(still, straight[1], straight[2], 0.1)
    assert gate.turn(still, straight[2], 3.0) is None
    assert gate.turn(still, straight[2], 4.2) is Liveness.ATTACK and still.why == "no_turn"


def test_liveness_keys_are_checked_at_start_up(tmp_path: Path) -> None:
    shipped = device_config.load(ROOT / "config.toml")
    assert shipped.liveness.enabled and shipped.liveness.threshold < 0, "on, with the calibrated threshold"
    base = (ROOT / "config.toml").read_text()
    for table, message in (("threshold = 1.5", "[liveness] threshold = 1.5"),
                           ("threshold = 0.5\ngrey_top = 0.2", "grey_top = 0.2 is below threshold"),
                           ("frames = 0", "[liveness] frames = 0"),
                           ("colour = 'red'", "unknown keys ['colour']")):
        path = tmp_path / "config.toml"
        path.write_text(base.replace("\nframes = 3\n", "\n", 1).replace("[liveness]\n", f"[liveness]\n{table}\n", 1))
        with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
            device_config.load(path)


def test_the_demo_door_runs_without_liveness_and_says_so(store_path: Path, kiosk_engine: FaceEngine,
                                                         pad_models: Path, caplog: pytest.LogCaptureFixture) -> None:
    from kiosk.scene import SceneSource, demo_scene

    config = device_config.load(ROOT / "config.toml")
    config = replace(config, http=replace(config.http, enabled=False))
    source = SceneSource(demo_scene(catalog.data_dir() or Path("."), seed=0, fps=10.0, size=(320, 240)))
    kiosk = Kiosk(config, source=source, engine=kiosk_engine, store=Store(store_path))
    assert kiosk.liveness is None and kiosk.loop.liveness is None


def test_a_spoof_on_screen_offers_the_fallback() -> None:
    from kiosk.door import Door

    door = Door()
    door.spoof()
    assert door.snapshot().view is View.SPOOF


def test_version_2_store_gets_spoof_events_and_keeps_its_seq(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    for version, _summary, sql in MIGRATIONS:
        if version <= 2:
            conn.executescript(sql)
    conn.execute("PRAGMA user_version = 2")
    for i in range(1, 4):
        conn.execute("INSERT INTO events (id, person, outcome, method, captured_at) VALUES (?, NULL, 'unknown', "
                     "'face', '2026-01-02T08:00:00.000Z')", (f"0190e000-0000-7000-8000-00000000000{i}",))
    conn.execute("DELETE FROM events WHERE seq = 3")  # the highest seq is gone; it must not be given again
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO events (id, outcome, method, captured_at) VALUES ('x', 'spoof', 'face', 'now')")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.schema_version == MIGRATIONS[-1][0] >= 4
    assert [e.seq for e in store.events_after(0)] == [1, 2]
    written = store.record_event(new_event(None, "spoof", "face", time.time(), score=0.4, margin=0.3,
                                           model_id="pad-a+pad-b"))
    assert written.seq == 4, "seq carries on after the highest ever given"
    assert [e.outcome for e in store.outbox()] == ["unknown", "unknown", "spoof"]
    with pytest.raises(sqlite3.IntegrityError):
        store.db.conn.execute("INSERT INTO events (id, outcome, method, captured_at) VALUES ('y', 'fake', 'face', 'n')")
    assert store.integrity() == "ok"
    store.close()


def test_a_spoof_event_is_valid_on_the_wire() -> None:
    from server.presence.schemas import EventIn

    event = replace(new_event(None, "spoof", "face", time.time(), score=0.4, margin=0.28, model_id="pad-a+pad-b"),
                    seq=7)
    parsed = EventIn.model_validate(event.contract())
    assert parsed.outcome == "spoof" and parsed.person is None
    with pytest.raises(ValueError):
        EventIn.model_validate({**event.contract(), "person": "2201234567"})
    with pytest.raises(ValueError):
        new_event("2201234567", "spoof", "face", time.time(), score=0.4, margin=0.1, model_id="m")


def test_enrolment_refuses_a_shot_judged_an_attack(pad_models: Path, kiosk_engine: FaceEngine, msu: Path) -> None:
    from enroll.capture import ATTACK, Capture
    from enroll.config import EnrolConfig

    checker = LivenessChecker.from_dir(pad_models)
    capture = Capture("MSU001", "MSU subject 001", "19800101", kiosk_engine, EnrolConfig(), checker)
    attack = capture.offer(read_image(image_files(msu / "attack")[0]))  # a replay of the person
    assert not attack.accepted and attack.reasons == (ATTACK,)
    assert "a photo or a screen" in attack.describe() and attack.measures["live_score"] < checker.thresholds.attack
    live = capture.offer(read_image(image_files(msu / "live")[0]))
    assert live.accepted, live.describe()
    assert capture.rejected == {ATTACK: 1}
