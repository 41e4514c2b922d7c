"""Composed door scenes: real face photos walking up to a synthetic lab door, frame by frame.

The demo source and the tests' and benchmark's videos come from here. Each walk-up pastes one real
photo (from $LABGATE_DATA) with a soft edge onto a wall, moving and growing as a person who walks
towards the camera, waits, and leaves. The scene keeps its ground truth (who walked up when) so a
test can check every event against it. Faces are never written anywhere by this module.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.frames import EndOfStream
from models.datasets import image_files, people
from models.images import read_image

FACE_TO_PHOTO = 0.37  # an LFW photo's face box is about 0.37 of the photo's side


@dataclass(frozen=True)
class Key:
    """Where an actor's face is at ``at`` seconds after the actor's start: centre (fractions of the
    frame) and face width in pixels."""

    at: float
    cx: float
    cy: float
    face: float


@dataclass(frozen=True)
class Actor:
    photo: Path
    who: str | None  # the enrolled person's key (folder name), None for a stranger
    start: float
    keys: tuple[Key, ...]

    @property
    def end(self) -> float:
        return self.start + self.keys[-1].at

    def at(self, t: float) -> tuple[float, float, float] | None:
        """(cx, cy, face px) at scene time ``t``, or None when not in view."""
        local = t - self.start
        if local < 0 or local > self.keys[-1].at:
            return None
        for a, b in zip(self.keys, self.keys[1:], strict=False):
            if a.at <= local <= b.at:
                f = (local - a.at) / max(b.at - a.at, 1e-9)
                f = f * f * (3 - 2 * f)  # ease in and out: people slow down before they stop
                return (a.cx + f * (b.cx - a.cx), a.cy + f * (b.cy - a.cy), a.face + f * (b.face - a.face))
        last = self.keys[-1]
        return last.cx, last.cy, last.face


@dataclass(frozen=True)
class WalkUp:
    """Ground truth: who came to the door (a pair lists both), from ``start`` to ``end`` seconds."""

    kind: str  # person | stranger | pair
    who: tuple[str | None, ...]
    start: float
    end: float


def walk_up(photo: Path, who: str | None, start: float, from_left: bool = True, hold: float = 1.4) -> Actor:
    """Enter at the side at about 2 m (face 60 px), come to the middle at about 1 m (105 px), wait, leave."""
    side = 0.14 if from_left else 0.86
    out = 1.2 if from_left else -0.2
    keys = (Key(0.0, side, 0.46, 60.0), Key(1.1, 0.5, 0.42, 100.0), Key(1.1 + hold, 0.5, 0.42, 108.0),
            Key(2.1 + hold, out, 0.42, 108.0))
    return Actor(photo, who, start, keys)


def pair_walk_up(first: tuple[Path, str | None], second: tuple[Path, str | None],
                 start: float) -> tuple[Actor, Actor]:
    """Two people come together (side by side, one-at-a-time prompt), then the first steps forward while
    the second waits behind, the first leaves, and the second steps up."""
    a = Actor(first[0], first[1], start, (
        Key(0.0, 0.10, 0.45, 70.0), Key(1.0, 0.33, 0.43, 88.0), Key(2.4, 0.33, 0.43, 90.0),
        Key(3.0, 0.42, 0.42, 122.0), Key(4.6, 0.42, 0.42, 124.0), Key(5.5, -0.25, 0.42, 124.0)))
    b = Actor(second[0], second[1], start, (
        Key(0.0, 0.90, 0.45, 70.0), Key(1.0, 0.67, 0.43, 88.0), Key(2.4, 0.67, 0.43, 90.0),
        Key(3.0, 0.78, 0.48, 54.0), Key(5.6, 0.78, 0.48, 54.0), Key(6.5, 0.52, 0.42, 104.0),
        Key(8.0, 0.52, 0.42, 106.0), Key(8.9, 1.25, 0.42, 106.0)))
    return a, b


class Scene:
    """A composed video: ``frame(i)`` renders frame ``i`` (RGB uint8) on demand."""

    def __init__(self, actors: list[Actor], walkups: list[WalkUp], fps: float = 12.0,
                 size: tuple[int, int] = (640, 480), tail: float = 1.0, seed: int = 0) -> None:
        self.actors = sorted(actors, key=lambda a: a.start)
        self.walkups = walkups
        self.fps = fps
        self.size = size
        self.duration = max((a.end for a in actors), default=0.0) + tail
        self.frames = int(self.duration * fps)
        self._walls = _walls(size, seed)
        self._photos: dict[Path, np.ndarray] = {}
        self._patches: dict[tuple[Path, int], np.ndarray] = {}
        self._alphas: dict[int, np.ndarray] = {}

    def frame(self, index: int) -> np.ndarray:
        t = index / self.fps
        frame = self._walls[index % len(self._walls)].copy()
        visible = [(state, actor) for actor in self.actors if (state := actor.at(t)) is not None]
        for (cx, cy, face), actor in sorted(visible, key=lambda v: v[0][2]):  # far ones first
            self._paste(frame, actor.photo, cx, cy, face)
        return frame

    def truth_at(self, index: int) -> list[str | None]:
        """Who is in view at frame ``index``."""
        t = index / self.fps
        return [a.who for a in self.actors if a.at(t) is not None]

    def _paste(self, frame: np.ndarray, photo: Path, cx: float, cy: float, face: float) -> None:
        side = max(8, round(face / FACE_TO_PHOTO))
        patch, alpha = self._patch(photo, side)
        h, w = frame.shape[:2]
        x0, y0 = int(cx * w - side / 2), int(cy * h - side / 2)
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
        if fx0 >= fx1 or fy0 >= fy1:
            return
        px0, py0 = fx0 - x0, fy0 - y0
        region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
        a = alpha[py0:py0 + fy1 - fy0, px0:px0 + fx1 - fx0]
        p = patch[py0:py0 + fy1 - fy0, px0:px0 + fx1 - fx0]
        frame[fy0:fy1, fx0:fx1] = (region + a * (p - region)).astype(np.uint8)

    def _patch(self, photo: Path, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The photo at ``side`` pixels and its soft round edge; small bounded caches (a long demo must
        not grow: a walk-up passes through about a hundred sizes)."""
        key = (photo, side)
        patch = self._patches.get(key)
        if patch is None:
            if len(self._patches) >= 48:
                self._patches.clear()
            image = self._photos.get(photo)
            if image is None:
                if len(self._photos) >= 64:
                    self._photos.clear()
                image = self._photos[photo] = read_image(photo)
            patch = self._patches[key] = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        alpha = self._alphas.get(side)
        if alpha is None:
            if len(self._alphas) >= 96:
                self._alphas.clear()
            yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
            alpha = self._alphas[side] = np.clip((0.5 - np.sqrt(xx**2 + yy**2)) * 8, 0, 1)[:, :, None].astype(
                np.float32)
        return patch, alpha

    def write_video(self, path: Path) -> Path:
        """The scene as an MJPEG .avi that OpenCV reads back (for the file source)."""
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), self.fps, self.size)
        if not writer.isOpened():
            raise OSError(f"cannot write a video to {path}")
        try:
            for i in range(self.frames):
                writer.write(cv2.cvtColor(self.frame(i), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        return path


def _walls(size: tuple[int, int], seed: int, count: int = 4) -> list[np.ndarray]:
    """A lit wall with a door frame, with sensor noise (a few noise patterns, cycled)."""
    w, h = size
    rng = np.random.default_rng(seed)
    wall = np.linspace(150, 95, w)[None, :, None] + np.linspace(-15, 15, h)[:, None, None]
    wall = wall.repeat(3, axis=2)
    wall[:, int(w * 0.06):int(w * 0.09)] *= 0.6
    return [np.clip(wall + rng.normal(0, 3, (h, w, 1)), 0, 255).astype(np.uint8) for _ in range(count)]


def build(plan: list[tuple[str, list[tuple[Path, str | None]]]], fps: float = 12.0, size: tuple[int, int] = (640, 480),
          gap: float = 1.2, tail: float = 1.5, seed: int = 0) -> Scene:
    """A scene from a plan: ("person"|"stranger", [(photo, who)]) or ("pair", [(photo, who), (photo, who)]),
    walk-ups one after another with ``gap`` seconds of empty door between them."""
    actors: list[Actor] = []
    walkups: list[WalkUp] = []
    t = 0.6
    for number, (kind, cast) in enumerate(plan):
        if kind == "pair":
            first, second = pair_walk_up(cast[0], cast[1], t)
            actors += [first, second]
            end = max(first.end, second.end)
        else:
            actor = walk_up(cast[0][0], cast[0][1], t, from_left=number % 2 == 0)
            actors.append(actor)
            end = actor.end
        walkups.append(WalkUp(kind, tuple(who for _, who in cast), t, end))
        t = end + gap
    return Scene(actors, walkups, fps, size, tail, seed)


def demo_scene(data_dir: Path, seed: int = 0, fps: float = 15.0, size: tuple[int, int] = (640, 480)) -> Scene:
    """The demo: every known person walks up (a photo not used for enrolment), strangers in between,
    and now and then two people together."""
    known = people(data_dir / "lfw_people" / "known")
    strangers = image_files(data_dir / "lfw_people" / "unknown")
    rng = random.Random(seed)
    names = list(known)
    rng.shuffle(names)
    plan: list[tuple[str, list[tuple[Path, str | None]]]] = []
    for i, name in enumerate(names):
        photos = known[name][4:] or known[name]
        plan.append(("person", [(rng.choice(photos), name)]))
        if i % 3 == 2 and strangers:
            plan.append(("stranger", [(rng.choice(strangers), None)]))
        if i % 8 == 7:
            a, b = rng.sample(names, 2)
            cast: list[tuple[Path, str | None]] = [(rng.choice(known[x][4:] or known[x]), x) for x in (a, b)]
            plan.append(("pair", cast))
    return build(plan, fps=fps, size=size, seed=seed)


class SceneSource:
    """A composed scene as a frame source (the demo, and the scripted source of the tests)."""

    live = False
    composed = True  # still photos pasted on a background: liveness is off for it (kiosk.liveness_gate)

    def __init__(self, scene: Scene, loop: bool = False, name: str = "demo") -> None:
        self.scene = scene
        self.fps = scene.fps
        self.loop = loop
        self.name = name
        self.index = 0

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray | None:
        if self.index >= self.scene.frames:
            if not self.loop:
                raise EndOfStream(self.name)
            self.index = 0
        frame = self.scene.frame(self.index)
        self.index += 1
        return frame

    def close(self) -> None:
        pass
