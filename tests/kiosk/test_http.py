"""Acceptance 5 and the local endpoint: /metrics parses with the Prometheus text parser, /events
refuses a missing or wrong token and serves the contract's events after a seq, /health tells the
camera, model, outbox and last sync."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from kiosk.scene import Actor, Key, Scene, SceneSource
from models.engine import FaceEngine
from tests.kiosk.conftest import ROOT, make_scene

pytestmark = pytest.mark.data
TOKEN = "kiosk-events-token-0123456789"


@pytest.fixture(scope="module")
def running(enrolled_db: Path, tmp_path_factory: pytest.TempPathFactory, kiosk_engine: FaceEngine,
            walk_up_photos: dict[str, Path], strangers: list[Path]):  # type: ignore[no-untyped-def]
    tmp_path = tmp_path_factory.mktemp("http")
    store_path = tmp_path / "kiosk.db"
    shutil.copy(enrolled_db, store_path)
    token_file = tmp_path / "events.token"
    token_file.write_text(TOKEN + "\n")
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, http=replace(config.http, port=0, events_token_file=token_file),
                     camera=replace(config.camera, pace="lockstep"))
    person = sorted(walk_up_photos)[2]
    scene = make_scene([("person", [(walk_up_photos[person], person)]), ("stranger", [(strangers[5], None)])])
    # Someone far down the corridor first: a face the detector finds but the quality gate calls too small.
    far = Actor(strangers[6], None, 0.0, (Key(0.0, 0.8, 0.4, 45.0), Key(0.5, 0.8, 0.4, 45.0)))
    scene = Scene([far, *scene.actors], scene.walkups, scene.fps, tail=1.0)
    kiosk = Kiosk(config, source=SceneSource(scene), engine=kiosk_engine, store=Store(store_path))
    kiosk.start(stop_at_end=True)
    kiosk.loop.join(120)
    assert kiosk.http is not None
    yield kiosk, f"http://127.0.0.1:{kiosk.http.port}", person
    kiosk.stop()


def test_metrics_parse_and_count_what_happened(running) -> None:  # type: ignore[no-untyped-def]
    kiosk, base, _ = running
    answer = requests.get(f"{base}/metrics", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}

    def samples(family: str, suffix: str = "") -> dict[tuple[str, ...], float]:
        return {tuple(s.labels.values()): s.value for s in families[family].samples if s.name.endswith(suffix)}

    events = kiosk.store.events_after(0)
    face_events = [e for e in events if e.method == "face"]
    assert len(face_events) == len(events) >= 2, "the scene gives one accept and at least one unknown"
    decisions = {(s.labels["outcome"], s.labels["method"]): s.value
                 for s in families["labgate_kiosk_decisions"].samples if s.name.endswith("_total")}
    assert decisions[("accept", "face")] == 1.0
    assert decisions[("unknown", "face")] == sum(e.outcome == "unknown" for e in events)
    assert sum(decisions.values()) == len(events), "one decision counted per event written"
    # Every face event the loop wrote was timed from its track's first frame.
    ttd = families["labgate_kiosk_time_to_decision_seconds"]
    count = next(s.value for s in ttd.samples if s.name.endswith("_count"))
    total = next(s.value for s in ttd.samples if s.name.endswith("_sum"))
    assert count == len(face_events)
    assert 0 < total / count < 30, "seconds from a face's first frame to its event"
    buckets = sorted((float(s.labels["le"]), s.value) for s in ttd.samples if s.name.endswith("_bucket"))
    assert buckets[-1] == (float("inf"), count) and all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))

    frames = samples("labgate_kiosk_frames", "_total")[()]
    assert frames == kiosk.loop.frames > 0
    stage_counts = samples("labgate_kiosk_stage_seconds", "_count")
    assert {"detect", "track", "quality", "embed", "match", "store", "frame"} <= {k[0] for k in stage_counts}
    assert stage_counts[("frame",)] == stage_counts[("detect",)] == frames
    assert 0 < stage_counts[("embed",)] < frames, "faces are embedded only on frames with a face waiting"
    rejects = samples("labgate_kiosk_quality_rejects", "_total")
    assert rejects.get(("too_small",), 0) >= 1, "walk-ups start far away: some faces are too small"
    assert samples("labgate_kiosk_outbox_events")[()] == kiosk.store.outbox_size() == len(events)
    assert samples("labgate_kiosk_gallery_people")[()] == 25
    assert samples("labgate_kiosk_accept_threshold")[()] == kiosk.loop.thresholds.accept
    assert samples("labgate_kiosk_camera_up")[()] == 0.0, "the scene ended: the camera gives no frames"
    assert samples("labgate_kiosk_frame_errors", "_total")[()] == 0


def test_events_need_the_right_token(running) -> None:  # type: ignore[no-untyped-def]
    _, base, _ = running
    missing = requests.get(f"{base}/events?after=0", timeout=5)
    assert missing.status_code == 401 and missing.headers["Content-Type"] == "application/problem+json"
    assert missing.json()["status"] == 401
    wrong = requests.get(f"{base}/events?after=0", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"}, timeout=5)
    assert wrong.status_code == 401
    basic = requests.get(f"{base}/events?after=0", headers={"Authorization": "Basic " + TOKEN}, timeout=5)
    assert basic.status_code == 401


def test_events_after_a_seq_follow_the_contract(running) -> None:  # type: ignore[no-untyped-def]
    kiosk, base, person = running
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = requests.get(f"{base}/events?after=0", headers=auth, timeout=5).json()
    assert body["device_id"] == kiosk.device_id()
    events = body["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert body["next_after"] == events[-1]["seq"]
    first = events[0]
    assert set(first) == {"id", "seq", "person", "outcome", "method", "score", "margin", "model_id", "captured_at",
                          "clock_suspect"}
    assert first["person"] == person and first["outcome"] == "accept" and first["method"] == "face"
    assert first["id"][14] == "7" and first["captured_at"].endswith("Z")
    assert all(e["person"] is None for e in events if e["outcome"] == "unknown")
    later = requests.get(f"{base}/events?after={first['seq']}&limit=1", headers=auth, timeout=5).json()
    assert [e["seq"] for e in later["events"]] == ([2] if len(events) > 1 else [])
    bad = requests.get(f"{base}/events?after=-4", headers=auth, timeout=5)
    assert bad.status_code == 422 and bad.json()["errors"]


def test_health_tells_camera_model_outbox_and_sync(running) -> None:  # type: ignore[no-untyped-def]
    kiosk, base, _ = running
    kiosk.store.set_sync_value("last_sync_at", "2026-11-22T08:15:03.001Z")
    health = requests.get(f"{base}/health", timeout=5).json()
    assert health["model_id"] == kiosk.engine.model_id
    assert health["outbox"] == kiosk.store.outbox_size() == len(kiosk.store.events_after(0))
    assert health["last_seq"] == kiosk.store.last_seq() == health["outbox"]
    assert health["last_sync"] == "2026-11-22T08:15:03.001Z"
    assert health["camera"]["status"] == "ended" and health["camera"]["fps"] == 0.0
    assert health["camera"]["source"] == "demo" and health["camera"]["hangs"] == 0
    assert health["ok"] is False, "a camera that ended is not a healthy door"
    assert health["frames"] == kiosk.loop.frames > 0
    assert health["threads"]["loop"] is False and health["threads"]["http"] is True
    assert health["gallery_people"] == 25
    for25 = kiosk.engine.thresholds_for(25)  # τ chosen for the 25 people the loop holds
    assert health["decision"]["gallery_people"] == 25 and health["decision"]["accept"] == for25.accept
    assert health["decision"]["expected_fpir"] == for25.expected_fpir <= kiosk.engine.settings.target_fpir
    assert health["pending_writes"] == 0
    missing = requests.get(f"{base}/nothing", timeout=5)
    assert missing.status_code == 404 and "/health" in missing.json()["detail"]


def test_events_refused_when_no_token_is_configured(store_path: Path, kiosk_engine: FaceEngine) -> None:
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, http=replace(config.http, port=0))
    scene = make_scene([], tail=0.5)
    kiosk = Kiosk(config, source=SceneSource(scene), engine=kiosk_engine, store=Store(store_path)).start()
    try:
        assert kiosk.http is not None
        answer = requests.get(f"http://127.0.0.1:{kiosk.http.port}/events?after=0",
                              headers={"Authorization": "Bearer anything-at-all-here"}, timeout=5)
        assert answer.status_code == 403
    finally:
        kiosk.stop()
