"""The recognition loop's rules, each through the real kiosk (real models, real faces on composed
frames): always the newest frame, detection on a downscaled frame, embedding only for faces still
undecided, one event per person per cooldown (also across a restart), and an identity flip inside a
track that resets its vote. Only the camera hardware is scripted."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiosk.loop as loop_module
from device import config as device_config
from device.events import Event
from device.store import Store
from kiosk.camera import Frame
from kiosk.frames import EndOfStream, FrameSource
from kiosk.kiosk import Kiosk
from kiosk.presence import Written
from kiosk.scene import Actor, Key, Scene, SceneSource, WalkUp, build
from kiosk.tracker import TrackState
from models.decision import Decision, Outcome
from models.engine import FaceEngine
from tests.kiosk.conftest import ROOT, make_scene

pytestmark = pytest.mark.data


def _kiosk(store_path: Path, engine: FaceEngine, source: FrameSource, pace: str = "lockstep",
           **loop: Any) -> Kiosk:
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, camera=replace(config.camera, pace=pace), http=replace(config.http, enabled=False),
                     kiosk=replace(config.kiosk, **loop))
    return Kiosk(config, source=source, engine=engine, store=Store(store_path))


def _run_to_end(kiosk: Kiosk, timeout: float = 120.0) -> None:
    kiosk.start(stop_at_end=True)
    kiosk.loop.join(timeout)
    assert kiosk.loop.ended, "the scene should have played to its end"
    kiosk.stop()


def _standing(photo: Path, who: str | None, seconds: float, face: float = 110.0) -> Actor:
    """Someone who walks to the door and stands there for ``seconds``."""
    return Actor(photo, who, 0.3, (Key(0.0, 0.2, 0.45, 70.0), Key(0.8, 0.5, 0.42, face),
                                   Key(0.8 + seconds, 0.5, 0.42, face)))


# -- always the newest frame -------------------------------------------------------------------------
class _FastCamera:
    """Scripted hardware: a live camera far faster than the loop. ``produced`` counts frames handed out;
    the camera numbers frames in the same order, so ``produced - frame.index`` is how far behind the
    newest frame a processed frame was."""

    live, fps, name = True, 200.0, "fast"
    composed = True  # frames composed from photos: liveness is off (tests/kiosk/test_liveness.py has it)

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.produced = 0

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        time.sleep(1 / self.fps)
        frame = self.frames[self.produced % len(self.frames)]
        self.produced += 1
        return frame

    def close(self) -> None:
        pass


def test_the_loop_takes_the_newest_frame_and_never_falls_behind(store_path: Path, kiosk_engine: FaceEngine,
                                                                walk_up_photos: dict[str, Path]) -> None:
    person = sorted(walk_up_photos)[5]
    scene = Scene([_standing(walk_up_photos[person], person, 30.0)], [], fps=12.0)
    source = _FastCamera([scene.frame(i) for i in range(24, 36)])  # the person at the door
    kiosk = _kiosk(store_path, kiosk_engine, source, pace="realtime")
    taken: list[tuple[int, int]] = []  # (frame index, frames the camera had produced by then)
    process = kiosk.loop.process

    def recording(frame: Frame) -> None:
        taken.append((frame.index, source.produced))
        process(frame)

    kiosk.loop.process = recording  # type: ignore[method-assign]
    kiosk.start()
    try:
        deadline = time.monotonic() + 60
        while len(taken) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        kiosk.stop()
    assert len(taken) >= 60
    indexes = [index for index, _ in taken]
    gaps = np.diff(indexes)
    assert (gaps > 0).all(), "frames are taken in order, never twice"
    assert gaps.max() >= 3 and len(taken) < indexes[-1] / 2, "a slow loop skips frames instead of queueing them"
    lags = [produced - index for index, produced in taken]
    # A queue would fall ~150 frames further behind every second (200 in, a few dozen out): hundreds
    # by the end. The newest frame is at most a scheduler's hiccup old, at the start as at the end.
    assert max(lags) <= 100, lags
    assert max(lags[-10:]) <= 100, lags[-10:]
    assert kiosk.store.events_after(0)[0].person == person  # and it did its work on those frames


# -- detection on a downscaled frame -----------------------------------------------------------------
def test_a_large_frame_is_downscaled_for_detection_and_the_walk_up_still_accepted(
        store_path: Path, kiosk_engine: FaceEngine, walk_up_photos: dict[str, Path]) -> None:
    person = sorted(walk_up_photos)[7]
    plan = build([("person", [(walk_up_photos[person], person)])], fps=12.0, size=(1280, 960), tail=1.0)
    # A 1280x960 camera at the door: faces twice the size they have in 640x480.
    actors = [replace(a, keys=tuple(replace(k, face=k.face * 2) for k in a.keys)) for a in plan.actors]
    scene = Scene(actors, plan.walkups, plan.fps, plan.size, tail=1.0)
    base = kiosk_engine.detector.settings
    kiosk = _kiosk(store_path, kiosk_engine, SceneSource(scene))
    used: list[tuple[int, float, int]] = []  # (frame width, detector scale, detector min_face)
    process = kiosk.loop.process

    shared: set[object] = set()  # the engine's own settings as each frame saw them

    def recording(frame: Frame) -> None:
        process(frame)
        settings = kiosk.loop.detect_settings
        used.append((frame.rgb.shape[1], settings.scale, settings.min_face))
        shared.add(kiosk.engine.detector.settings)

    kiosk.loop.process = recording  # type: ignore[method-assign]
    _run_to_end(kiosk)
    assert {width for width, _, _ in used} == {1280}
    assert {(scale, min_face) for _, scale, min_face in used} == {(base.scale * 0.5, round(base.min_face * 0.5))}
    events = kiosk.store.events_after(0)
    assert [(e.person, e.outcome) for e in events] == [(person, "accept")]
    # The engine is shared (enrolment, a restarted loop): the fitted settings are the loop's own.
    assert shared == {base} and kiosk_engine.detector.settings == base


# -- embed only faces still waiting for a decision ---------------------------------------------------
def test_a_decided_face_is_not_embedded_again(store_path: Path, kiosk_engine: FaceEngine,
                                              walk_up_photos: dict[str, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    person = sorted(walk_up_photos)[3]
    scene = Scene([_standing(walk_up_photos[person], person, 5.0)], [], fps=12.0, tail=0.5)
    kiosk = _kiosk(store_path, kiosk_engine, SceneSource(scene))
    embedded: list[tuple[int, int]] = []  # (frame index, crops embedded)
    embed = kiosk_engine.embedder.embed_crops

    def counting(crops: np.ndarray) -> np.ndarray:
        embedded.append((kiosk.loop.last_index, len(crops)))
        return embed(crops)

    monkeypatch.setattr(kiosk_engine.embedder, "embed_crops", counting)
    decided_at: list[int] = []
    kiosk.presence.listeners.append(lambda _event, _first: decided_at.append(kiosk.loop.last_index))
    still_in_view: list[int] = []  # frames after which the decided track was still seen
    process = kiosk.loop.process

    def recording(frame: Frame) -> None:
        process(frame)
        if any(t.state is TrackState.DECIDED and t.seen_now for t in kiosk.loop.tracker.tracks):
            still_in_view.append(frame.index)

    kiosk.loop.process = recording  # type: ignore[method-assign]
    _run_to_end(kiosk)
    assert [(e.person, e.outcome) for e in kiosk.store.events_after(0)] == [(person, "accept")]
    decision = decided_at[0]
    assert 3 <= sum(n for index, n in embedded if index <= decision) <= 10, "k of n good frames were embedded"
    assert len(still_in_view) >= 40, "the accepted person stays in view for seconds"
    assert [(i, n) for i, n in embedded if i > decision] == [], "no embedding once the face is decided"


# -- one event per person per cooldown ---------------------------------------------------------------
def _recording_accepts(kiosk: Kiosk) -> list[tuple[str, Written]]:
    calls: list[tuple[str, Written]] = []
    accept = kiosk.presence.accept_face

    def recording(person: str, *args: Any, **kwargs: Any) -> Written:
        written = accept(person, *args, **kwargs)
        calls.append((person, written))
        return written

    kiosk.presence.accept_face = recording  # type: ignore[method-assign]
    return calls


def test_one_event_per_person_per_cooldown_also_after_a_restart(store_path: Path, kiosk_engine: FaceEngine,
                                                                walk_up_photos: dict[str, Path]) -> None:
    names = sorted(walk_up_photos)
    a, b = names[8], names[10]
    twice = make_scene([("person", [(walk_up_photos[a], a)]), ("person", [(walk_up_photos[a], a)])])
    kiosk = _kiosk(store_path, kiosk_engine, SceneSource(twice), cooldown_s=120.0)
    calls = _recording_accepts(kiosk)
    _run_to_end(kiosk)
    assert [person for person, _ in calls] == [a, a], "two walk-ups, two tracks, two accepts"
    first, second = calls[0][1], calls[1][1]
    assert first.event is not None and first.greeting is not None and not first.greeting.repeat
    assert second.event is None and second.greeting is not None and second.greeting.repeat, \
        "inside the cooldown: greeted again, no second event"
    assert [(e.person, e.seq) for e in Store(store_path).events_after(0)] == [(a, first.event.seq)]

    # A restart (a new kiosk on the same store): a is still inside the cooldown, b is not.
    again = make_scene([("person", [(walk_up_photos[a], a)]), ("person", [(walk_up_photos[b], b)])])
    restarted = _kiosk(store_path, kiosk_engine, SceneSource(again), cooldown_s=120.0)
    calls = _recording_accepts(restarted)
    _run_to_end(restarted)
    assert [person for person, _ in calls] == [a, b]
    assert calls[0][1].event is None and calls[0][1].greeting is not None and calls[0][1].greeting.repeat
    assert calls[1][1].event is not None
    assert [e.person for e in Store(store_path).events_after(0)] == [a, b]


# -- an identity flip inside a track resets its vote --------------------------------------------------
class _Script:
    """Scripted frames: one of a few pre-rendered frames per step, then the end."""

    live, fps, name = False, 12.0, "script"
    composed = True  # frames composed from photos: liveness is off (tests/kiosk/test_liveness.py has it)

    def __init__(self, frames: dict[str, np.ndarray], script: str) -> None:
        self.frames, self.script, self.index = frames, script, 0

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        if self.index >= len(self.script):
            raise EndOfStream(self.name)
        self.index += 1
        return self.frames[self.script[self.index - 1]]

    def close(self) -> None:
        pass


def test_an_identity_flip_inside_a_track_resets_its_vote(store_path: Path, kiosk_engine: FaceEngine,
                                                         walk_up_photos: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    names = sorted(walk_up_photos)
    a, b = names[11], names[13]

    def at_the_door(who: str) -> np.ndarray:
        still = Actor(walk_up_photos[who], who, 0.0, (Key(0.0, 0.5, 0.42, 112.0), Key(60.0, 0.5, 0.42, 112.0)))
        return Scene([still], [WalkUp("person", (who,), 0.0, 60.0)], fps=12.0).frame(0)

    # Two people swap places in front of the camera every frame (one box, one track), then a stays.
    script = "ab" * 12 + "a" * 12
    source = _Script({"a": at_the_door(a), "b": at_the_door(b)}, script)
    kiosk = _kiosk(store_path, kiosk_engine, source)
    decisions: list[tuple[int, Decision]] = []
    decide = loop_module.decide

    def recording(*args: Any, **kwargs: Any) -> Decision:
        decision = decide(*args, **kwargs)
        decisions.append((kiosk.loop.last_index, decision))
        return decision

    monkeypatch.setattr(loop_module, "decide", recording)
    track_ids: set[int] = set()
    flips: list[int] = []
    process = kiosk.loop.process

    def tracking(frame: Frame) -> None:
        process(frame)
        track_ids.update(t.id for t in kiosk.loop.tracker.tracks)
        flips.extend(t.vote.flips for t in kiosk.loop.tracker.tracks)

    kiosk.loop.process = tracking  # type: ignore[method-assign]
    events: list[tuple[int, Event]] = []
    kiosk.presence.listeners.append(lambda event, _first: events.append((kiosk.loop.last_index, event)))
    _run_to_end(kiosk)

    alternating = [(index, d) for index, d in decisions if index <= 24]
    assert len(alternating) >= 20, "the swapping faces pass the quality gate"
    assert all(d.outcome is Outcome.ACCEPT and d.person == (a if index % 2 else b) for index, d in alternating), \
        "each frame on its own names the person in view (the premise of this test)"
    assert len(track_ids) == 1, "one face box all along: one track"
    assert max(flips) >= 20, "every swap is a flip"
    # Without the reset, a's 3 votes among the last 5 (a b a b a) would have accepted a by frame 5.
    assert [(index, e.person, e.outcome) for index, e in events if index <= 24] == []
    assert [(e.person, e.outcome) for _, e in events] == [(a, "accept")]
    assert 25 <= events[0][0] <= 24 + 5, "a is accepted on k of the frames after the swapping stopped"
