"""Faces followed across frames by box overlap (IoU), with a constant-velocity guess of where each
face moved, so a person who walks sideways keeps one track (and one vote, one event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from kiosk.liveness import TrackLiveness
from models.detector import Face
from models.votes import Verdict, Vote


class TrackState(StrEnum):
    WAITING = "waiting"  # needs a decision: its good frames are embedded and voted on
    DECIDED = "decided"  # accepted, or a confident stranger: no more embedding
    IGNORED = "ignored"  # not a face after all (a QR code held up): no embedding, no box, not counted


@dataclass
class Track:
    id: int
    face: Face
    first_t: float  # loop clock of the first frame this face was seen
    first_wall: float
    last_t: float
    vote: Vote
    state: TrackState = TrackState.WAITING
    person: str | None = None  # the accepted person, once decided
    unknown_logged: bool = False  # an unknown event was written for this track
    look_again: bool = False  # its votes so far are in the grey zone
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.float32))
    seen_now: bool = True  # matched to a detection in the latest frame
    liveness: TrackLiveness = field(default_factory=TrackLiveness)
    held: Verdict | None = None  # a vote's verdict waiting for the liveness check to pass

    @property
    def size(self) -> float:
        return min(self.face.width, self.face.height)

    def predicted(self, t: float) -> np.ndarray:
        return self.face.box + self.velocity * min(t - self.last_t, 0.5)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class Tracker:
    def __init__(self, vote_k: int, vote_n: int, min_iou: float = 0.3, ttl_s: float = 1.0) -> None:
        self.vote_k, self.vote_n = vote_k, vote_n
        self.min_iou = min_iou
        self.ttl_s = ttl_s
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, faces: list[Face], t: float, wall: float) -> list[Track]:
        """Match this frame's faces to tracks (greedy, best overlap first); new faces start tracks, tracks
        unseen for ``ttl_s`` end. Returns the live tracks, largest face first."""
        pairs = []
        for ti, track in enumerate(self.tracks):
            guess = track.predicted(t)
            for fi, face in enumerate(faces):
                overlap = max(iou(guess, face.box), iou(track.face.box, face.box))
                if overlap >= self.min_iou:
                    pairs.append((overlap, ti, fi))
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for track in self.tracks:
            track.seen_now = False
        for _, ti, fi in sorted(pairs, reverse=True):
            if ti in used_tracks or fi in used_faces:
                continue
            used_tracks.add(ti)
            used_faces.add(fi)
            track = self.tracks[ti]
            dt = t - track.last_t
            if dt > 0:
                moved = (faces[fi].box - track.face.box) / dt
                track.velocity = (0.5 * track.velocity + 0.5 * moved).astype(np.float32)
            track.face, track.last_t, track.seen_now = faces[fi], t, True
        for fi, face in enumerate(faces):
            if fi not in used_faces:
                self.tracks.append(Track(self._next_id, face, t, wall, t, Vote(self.vote_k, self.vote_n)))
                self._next_id += 1
        self.tracks = [tr for tr in self.tracks if t - tr.last_t <= self.ttl_s]
        self.tracks.sort(key=lambda tr: -tr.face.width * tr.face.height)
        return self.tracks

    def reset(self) -> None:
        self.tracks = []
