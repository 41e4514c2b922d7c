"""Acceptance 2: person A's photos imported under person B's number are refused as a duplicate of A;
a folder mixing two people is refused as inconsistent; nothing is saved either way. And the guided
capture's own rules: consent first, at least five shots, each in the pose asked for, near-identical
shots counted once."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from enroll import checks
from enroll.capture import NEAR_IDENTICAL, NOT_LEFT, NOT_RIGHT, NOT_UP
from enroll.folder import import_folder
from enroll.service import EnrolmentRefused, EnrolmentService
from models.engine import FaceEngine
from models.images import read_image
from tests.enroll.conftest import ENROL_PHOTOS, door_frame, photo_of

pytestmark = pytest.mark.data


def _folder(root: Path, number: str, photos: list[Path]) -> Path:
    (root / number).mkdir(parents=True)
    for i, photo in enumerate(photos):
        shutil.copy(photo, root / number / f"{i:02d}_{photo.name}")
    return root


def _snapshot(service: EnrolmentService) -> tuple[int, int]:
    db = service.store.db.conn
    return (int(db.execute("SELECT count(*) FROM templates").fetchone()[0]),
            int(db.execute("SELECT count(*) FROM people").fetchone()[0]))


@pytest.mark.parametrize("owner, target", [("Hamid_Karzai", "Kim_Clijsters"), ("Venus_Williams", "Jiang_Zemin"),
                                           ("Hans_Blix", "2201999999")])
def test_someone_elses_face_is_refused_as_a_duplicate(service: EnrolmentService, known: dict[str, list[Path]],
                                                      tmp_path: Path, owner: str, target: str) -> None:
    """The owner's other photos (not the enrolled ones) under another enrolled person's number, or a new one."""
    before = _snapshot(service)
    before_b = service.store.template_rows(service.model_id, target)
    report = import_folder(service, _folder(tmp_path, target, known[owner][ENROL_PHOTOS:ENROL_PHOTOS + 5]), "t",
                                   consent=True)
    [outcome] = report.people
    assert outcome.status == "refused" and outcome.kind == "duplicate", outcome
    assert f"already enrolled as {owner}" in outcome.message
    assert _snapshot(service) == before
    assert [r[2] for r in service.store.template_rows(service.model_id, target)] == [r[2] for r in before_b]
    assert any(row["action"] == "enrol.refused" for row in service.store.audit_log())


def test_a_folder_mixing_two_people_is_refused_as_inconsistent(service: EnrolmentService,
                                                               known: dict[str, list[Path]], tmp_path: Path) -> None:
    """Two photos of each of two people the store does not know (removed first), under one number."""
    names = sorted(known)
    mixes = [(names[i], names[i + 12]) for i in range(0, 12, 3)]  # four fixed pairs across the alphabet
    for first, second in mixes:
        service.remove(first, "t")
        service.remove(second, "t")
    refused = 0
    for n, (first, second) in enumerate(mixes):
        photos = _usable(service, known[first])[:2] + _usable(service, known[second])[:2]
        before = _snapshot(service)
        report = import_folder(service, _folder(tmp_path / str(n), f"22010000{n}", photos), "t", consent=True)
        [outcome] = report.people
        refused += outcome.kind == "inconsistent"
        assert outcome.status == "refused" and outcome.kind == "inconsistent", (first, second, outcome)
        assert "two different people" in outcome.message
        assert _snapshot(service) == before
    assert refused == len(mixes)
    # Their own photos alone are fine.
    first, _ = mixes[0]
    report = import_folder(service, _folder(tmp_path / "own", "2201000100", _usable(service, known[first])[:4]), "t",
                                   consent=True)
    assert report.people[0].status == "enrolled", report.people[0]


def _usable(service: EnrolmentService, photos: list[Path]) -> list[Path]:
    found = []
    for photo in photos:
        results = service.photos.analyse(read_image(photo), embed="none")
        if results and results[0].quality.ok:
            found.append(photo)
    return found


def test_split_finds_the_two_groups() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=512), rng.normal(size=512)
    shots = [v / np.linalg.norm(v) for v in
             [a + rng.normal(scale=0.5, size=512) for _ in range(3)] + [b + rng.normal(scale=0.5, size=512)]]
    parted = checks.split(np.stack(shots).astype(np.float32), 0.28)
    assert parted is not None and parted.first == (0, 1, 2) and parted.second == (3,)
    assert checks.split(np.stack(shots[:3]).astype(np.float32), 0.28) is None
    assert checks.split(np.stack(shots[:1]).astype(np.float32), 0.28) is None


# -- the guided capture ---------------------------------------------------------------------------------
def _pose(engine: FaceEngine, frame: np.ndarray) -> tuple[float, float]:
    measures = engine.analyse(frame, embed="none")[0].quality.measures
    return measures["yaw"], measures["pitch"]


def test_capture_needs_consent_five_shots_and_counts_a_repeat_once(service: EnrolmentService,
                                                                   known: dict[str, list[Path]]) -> None:
    person = "Pete_Sampras"
    service.remove(person, "t")
    # Real photos in the poses the capture asks for: straight, a little left, right, up, straight.
    guided = [door_frame(photo_of(known, person, n)) for n in (7, 12, 4, 9, 1)]
    capture = service.begin("2201000200", "19800101", name="Pete S.")
    first = capture.offer(guided[0])
    assert first.accepted and first.shots == 1 and capture.shots[0].prompt == "straight" and first.prompt == "left"
    noisy = np.clip(guided[0].astype(np.int16) + np.random.default_rng(1).integers(-3, 4, guided[0].shape), 0,
                    255).astype(np.uint8)
    again = capture.offer(noisy)  # the same pose and light: not a new shot
    assert not again.accepted and again.reasons == (NEAR_IDENTICAL,) and again.similar_to == 1
    blurred = capture.offer(cv2.GaussianBlur(guided[1], (0, 0), 4))
    assert not blurred.accepted and "blurred" in blurred.reasons, blurred
    empty = capture.offer(np.full((480, 640, 3), 120, np.uint8))
    assert empty.reasons == ("no_face",)
    for frame in guided[1:4]:
        offer = capture.offer(frame)
        assert offer.accepted, offer.describe()
    with pytest.raises(EnrolmentRefused) as refused:
        service.save(capture)
    assert refused.value.kind == "consent"
    service.record_consent(capture)
    with pytest.raises(EnrolmentRefused) as refused:
        service.save(capture)
    assert refused.value.kind == "too_few"
    assert capture.offer(guided[4]).accepted and capture.ready
    assert [shot.prompt for shot in capture.shots] == ["straight", "left", "right", "up", "straight"]
    saved = service.save(capture)
    assert saved.templates == 5 and saved.crops == 5
    record = service.store.person_record("2201000200")
    assert record is not None and record["consent_by"] == "19800101" and record["name"] == "Pete S."
    actions = [(row["actor"], row["action"]) for row in service.store.audit_log()]
    for action in ("enrol.start", "enrol.consent", "enrol.refused", "enrol.save"):
        assert ("19800101", action) in actions, action
    # The same face under another number is a duplicate of the one just saved.
    other = service.begin("2201000201", "19800101")
    service.record_consent(other)
    assert all(other.offer(frame).accepted for frame in guided)
    with pytest.raises(EnrolmentRefused) as refused:
        service.save(other)
    assert refused.value.kind == "duplicate" and refused.value.collisions[0].number == "2201000200"
    assert "Pete S. (2201000200)" in refused.value.collisions[0].describe()
    assert service.store.person_record("2201000201") is None


def test_guided_shots_must_show_the_pose_asked_for(service: EnrolmentService, known: dict[str, list[Path]]) -> None:
    """Real photos of Junichiro Koizumi at the door: looking straight (0003, 0008), turned to his left
    (0007, 0002: the nose to the picture's right, yaw above 0), the same mirrored (turned to his right),
    chin up (0011: the nose nearer the eye line than in the straight shot, lower pitch)."""
    engine, config = service.engine, service.config
    koizumi = {n: door_frame(photo_of(known, "Junichiro_Koizumi", n)) for n in (2, 3, 4, 7, 8, 11)}
    mirrored = {n: door_frame(photo_of(known, "Junichiro_Koizumi", n), mirror=True) for n in (2, 7)}
    assert _pose(engine, koizumi[7])[0] >= config.guided_yaw and _pose(engine, mirrored[7])[0] <= -config.guided_yaw
    assert abs(_pose(engine, koizumi[8])[0]) < config.guided_yaw
    capture = service.begin("2201000300", "19800101")
    assert capture.offer(koizumi[3]).accepted and capture.prompt == "left"

    for wrong in (koizumi[8], mirrored[7]):  # straight on, or turned the other way
        offer = capture.offer(wrong)
        assert not offer.accepted and offer.reasons == (NOT_LEFT,) and offer.prompt == "left", offer
    assert "turn a little to your left" in offer.describe()
    assert capture.offer(koizumi[7]).accepted and capture.prompt == "right"

    offer = capture.offer(koizumi[2])  # turned to his left when the right is asked for
    assert not offer.accepted and offer.reasons == (NOT_RIGHT,), offer
    assert capture.offer(mirrored[2]).accepted and capture.prompt == "up"

    straight_pitch = _pose(engine, koizumi[3])[1]
    assert _pose(engine, koizumi[4])[1] > straight_pitch - config.guided_pitch  # head level or down
    offer = capture.offer(koizumi[4])
    assert not offer.accepted and offer.reasons == (NOT_UP,), offer
    assert _pose(engine, koizumi[11])[1] <= straight_pitch - config.guided_pitch
    assert capture.offer(koizumi[11]).accepted and capture.prompt == "straight"
    assert capture.rejected == {NOT_LEFT: 2, NOT_RIGHT: 1, NOT_UP: 1}
    assert [s.prompt for s in capture.shots] == ["straight", "left", "right", "up"]


def test_mix_detection_over_many_pairs(service: EnrolmentService, known: dict[str, list[Path]],
                                       probes: list[tuple[str, Path, np.ndarray]]) -> None:
    """A measurement, printed: two-photo + two-photo mixes of every pair of people, from the probe
    embeddings (photos 5-12), and two four-photo sets of each person alone. The rule must catch nearly
    every mix and pass nearly every real set."""
    by_person: dict[str, list[np.ndarray]] = {}
    for person, _path, embedding in probes:
        by_person.setdefault(person, []).append(embedding)
    mixes = [np.stack(by_person[a][:2] + by_person[b][:2]) for a, b in itertools.combinations(sorted(by_person), 2)]
    own = [np.stack(v[i:i + 4]) for v in by_person.values() for i in (0, 4)]
    caught = sum(checks.split(m, service.config.consistency) is not None for m in mixes)
    passed = sum(checks.split(m, service.config.consistency) is None for m in own)
    print(f"\n2+2 mixes refused {caught}/{len(mixes)}; one person's 4 photos passed {passed}/{len(own)}")
    # Measured: 296/300 refused, 50/50 passed (at the dev set's equal-error point: 2.6 % / 2.8 %).
    assert caught / len(mixes) >= 0.97
    assert passed / len(own) >= 0.96
