"""Demo people for `make run`: the first photos of each lfw_people/known person, enrolled when the
store has nobody, so the demo scene's walk-ups are recognised. Numbers are the folder names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.logs import log
from device.store import Store, now_iso
from kiosk.pin import hash_pin
from models.datasets import people
from models.engine import FaceEngine, primary_index
from models.images import ImageError, read_image

DEMO_PIN = "1234"  # every demo person's PIN (a demo store only)
DEMO_TECHNICIAN = ("19800101", "Demo technician", "2468")  # a NIP: digits, as the keypad types


def enrol_demo(store: Store, engine: FaceEngine, data_dir: Path, photos: int = 4) -> int:
    """Enrol the demo people unless someone is enrolled for this model already; returns how many."""
    if store.people_count(engine.model_id):
        return 0
    known = people(data_dir / "lfw_people" / "known")
    pin_hash = hash_pin(DEMO_PIN)
    enrolled = 0
    for name, paths in known.items():
        vectors = []
        for path in paths[:photos]:
            try:
                rgb = read_image(path)
            except ImageError as exc:
                log("demo_photo_skipped", person=name, file=path.name, reason=str(exc))
                continue
            faces = engine.detector.detect(rgb)
            if not faces:
                log("demo_photo_skipped", person=name, file=path.name, reason="no face")
                continue
            face = faces[primary_index(faces, rgb.shape, "centre")]  # portraits: the centred face
            vectors.append(engine.embedder.embed_faces(rgb, [face])[0])
        if not vectors:
            continue
        store.upsert_person(name, name.replace("_", " "), ("student",), pin_hash, consent_at=now_iso())
        store.add_templates(name, engine.model_id, np.stack(vectors), source="demo:lfw_people")
        enrolled += 1
    number, full_name, pin = DEMO_TECHNICIAN
    store.upsert_person(number, full_name, ("technician",), hash_pin(pin))
    store.audit("system", "demo.enrol", people=enrolled, model_id=engine.model_id)
    log("demo_enrolled", people=enrolled, pin=DEMO_PIN, technician=number, technician_pin=pin)
    return enrolled
