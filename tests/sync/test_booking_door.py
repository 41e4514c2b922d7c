"""Bookings at the door, end to end: a real server on loopback, a kiosk (headless, a scripted camera
holding up a real photo) provisioned for the room's door with sync in its thread. The holder walks in
inside the check-in window: the kiosk recognises them, its greeting says the booking is checked in,
and after sync the booking is checked_in on the server with the presence event as evidence. A
booking whose holder never comes is released ``auto_release`` minutes after its start (the test moves
the server's clock for the job), the kiosk drops it, and the slot can be booked again."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from device import config as device_config
from device.store import Store
from kiosk.kiosk import Kiosk
from models.datasets import people
from models.engine import FaceEngine
from models.images import read_image
from server.bookings import checkin
from server.core.database import Database
from sync.provisioning import provision
from tests.sync.conftest import ROOT, LiveServer, credentials_for, write_config
from tests.sync.test_acceptance import _template, wait_for

pytestmark = [pytest.mark.data, pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)]


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> FaceEngine:
    return FaceEngine(device_config.load(ROOT / "config.toml").engine)


class PhotoSource:
    """A camera at the door: a grey wall, or the person the test sends walking up (a real photo)."""

    name, live, fps = "photo", False, 10.0
    composed = True  # a photo pasted on a grey wall: liveness is off (tests/kiosk/test_liveness.py has it)

    def __init__(self) -> None:
        self.wall = np.full((480, 640, 3), 128, np.uint8)
        self.frame = self.wall

    def show(self, photo: np.ndarray | None) -> None:
        if photo is None:
            self.frame = self.wall
            return
        face = cv2.resize(photo, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_LINEAR)
        frame = self.wall.copy()
        h, w = face.shape[:2]
        top, left = (480 - h) // 2, (640 - w) // 2
        frame[top:top + h, left:left + w] = face
        self.frame = frame

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        time.sleep(0.05)
        return self.frame.copy()

    def close(self) -> None:
        pass


def _someone(engine: FaceEngine, data_dir: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Four enrolment embeddings of one known person, and a further photo of them that passes the gate."""
    for photos in people(data_dir / "lfw_people" / "known").values():
        enrolled = []
        for photo in photos[:4]:
            found = engine.analyse(read_image(photo))
            if found and found[0].embedding is not None:
                enrolled.append(found[0].embedding)
        for photo in photos[4:]:
            image = read_image(photo)
            found = engine.analyse(image)
            if len(enrolled) == 4 and found and found[0].quality.ok and found[0].embedding is not None:
                return enrolled, image
    raise AssertionError("no usable person in lfw_people/known")


def test_the_holder_walking_in_checks_the_booking_in_and_a_no_show_is_released(
        live_server: LiveServer, server_db: str, engine: FaceEngine, data_dir: Path, tmp_path: Path) -> None:
    api = live_server
    room = api.call("POST", "/rooms", 201, json={"code": "LAB-1", "name": "Lab 1", "auto_release_minutes": 10})
    device = api.call("POST", "/devices", 201, json={"name": "door LAB-1", "room": "LAB-1",
                                                    "model_id": engine.model_id})
    holder = api.call("POST", "/people", 201, json={"number": "2201000777", "name": "Ayu", "kind": "student"})
    absent = api.call("POST", "/people", 201, json={"number": "2201000888", "name": "Budi", "kind": "student"})
    enrolled, walk_up = _someone(engine, data_dir)
    for vector in enrolled:
        _template(server_db, holder["id"], engine.model_id, vector)
    start = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)  # check-in opens 10 min before
    booked = api.call("POST", "/bookings", 201, json={
        "room_id": room["id"], "title": "Study group", "holder": holder["number"], "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat()})["bookings"][0]
    later = start + timedelta(hours=2)
    no_show = api.call("POST", "/bookings", 201, json={
        "room_id": room["id"], "title": "Quiet study", "holder": absent["number"], "starts_at": later.isoformat(),
        "ends_at": (later + timedelta(hours=1)).isoformat()})["bookings"][0]

    store = Store(tmp_path / "kiosk.db")
    sync_file = write_config(tmp_path / "config.toml", store.path, interval_s=0.3, pull_interval_s=0.5,
                             backoff_s=(0.05, 0.5))
    config = device_config.load(ROOT / "config.toml")
    config = replace(config, path=sync_file, http=replace(config.http, enabled=False))
    source = PhotoSource()
    kiosk = Kiosk(config, source=source, engine=engine, store=store).start()
    try:
        provision(store, kiosk.sync_config, credentials_for(api.base, device), "test")
        wait_for(lambda: len(kiosk.loop.gallery) == 1 and store.current_booking("LAB-1", start.timestamp() + 60)
                 is not None, 30, "the kiosk to pull the holder's face and today's bookings")
        said: list[str] = []

        def greeted() -> bool:
            greeting = kiosk.door.snapshot().greeting
            if greeting is not None and greeting.checked_in is not None:
                said.append(greeting.checked_in.id)
            return bool(said)

        source.show(walk_up)
        wait_for(greeted, 30, "the door to greet the holder and say the booking is checked in", step=0.05)
        source.show(None)
        assert said[0] == booked["id"]
        wait_for(lambda: api.call("GET", f"/bookings/{booked['id']}")["status"] == "checked_in", 30,
                 "the event to reach the server and check the booking in")
        seen = api.call("GET", f"/bookings/{booked['id']}")
        assert seen["check_in_method"] == "face" and seen["checked_in_at"]

        database = Database(server_db)  # the clock moves for the job: ten minutes after the no-show's start
        try:
            with database.session() as session:
                assert checkin.pass_once(session, later + timedelta(minutes=9)).released == 0
                assert checkin.pass_once(session, later + timedelta(minutes=10)).released == 1
        finally:
            database.dispose()
        released = api.call("GET", f"/bookings/{no_show['id']}")
        assert released["status"] == "released"
        wait_for(lambda: store.current_booking("LAB-1", later.timestamp() + 60) is None, 30,
                 "the kiosk to drop the released booking")
        api.call("POST", "/bookings", 201, json={"room_id": room["id"], "title": "Taken again",
                                                 "starts_at": later.isoformat(),
                                                 "ends_at": (later + timedelta(hours=1)).isoformat()})
    finally:
        kiosk.stop()
