"""Gallery bundles: a kiosk's people and face templates of one model in one encrypted file, to move a
gallery to another kiosk without a network (a USB stick).

Layout: the line ``LABGATE-GALLERY 1``, a JSON header line (format, model id, counts, creation time,
scrypt parameters and salt, nonce), then AES-256-GCM of the gzipped JSON payload. The key comes from
a passphrase through scrypt; both header lines are authenticated as associated data, so a changed
model id or count makes the bundle refuse to open. Kept face crops never travel in a bundle.

``export_gallery`` and ``import_gallery`` move a gallery between device stores; every imported
person takes the one path into the gallery (``EnrolmentService.enrol``: the same checks as any
enrolment), with their record as exported (name, roles, PIN hash, active, consent).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device.store import now_iso
from enroll.outcomes import EnrolmentRefused, ImportReport, PersonOutcome
from enroll.service import EnrolmentService

MAGIC = b"LABGATE-GALLERY 1\n"
FORMAT = "labgate-gallery/1"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PASSPHRASE = 12


class BundleError(ValueError):
    """The file is not a gallery bundle, does not open with the passphrase, or does not fit this kiosk."""


@dataclass(frozen=True)
class BundlePerson:
    number: str
    name: str
    roles: tuple[str, ...]
    pin_hash: str | None
    active: bool
    consent: tuple[str, str, str] | None  # (at, by, policy)
    vectors: np.ndarray  # (T, D) float32
    quality: list[float | None]  # None: not measured (a re-embedded template)
    source: str


@dataclass(frozen=True)
class Bundle:
    model_id: str
    embedding_size: int
    created_at: str
    people: list[BundlePerson]


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BundleError(f"a bundle passphrase needs at least {MIN_PASSPHRASE} characters "
                          f"(got {len(passphrase)}); use a few words")


def write(path: Path, bundle: Bundle, passphrase: str) -> int:
    """Write ``bundle`` encrypted with ``passphrase`` (atomically); returns the file's size."""
    check_passphrase(passphrase)
    payload = {
        "format": FORMAT, "model_id": bundle.model_id, "embedding_size": bundle.embedding_size,
        "created_at": bundle.created_at,
        "people": [{
            "number": p.number, "name": p.name, "roles": list(p.roles), "pin_hash": p.pin_hash, "active": p.active,
            "consent": list(p.consent) if p.consent else None, "quality": p.quality, "source": p.source,
            "vectors": base64.b64encode(np.asarray(p.vectors, dtype="<f4").tobytes()).decode(),
        } for p in bundle.people],
    }
    salt, nonce = os.urandom(16), os.urandom(12)
    header = json.dumps({
        "format": FORMAT, "model_id": bundle.model_id, "people": len(bundle.people),
        "templates": sum(len(p.vectors) for p in bundle.people), "created_at": bundle.created_at,
        "kdf": {"name": "scrypt", **SCRYPT, "salt": base64.b64encode(salt).decode()},
        "cipher": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode(),
    }, sort_keys=True).encode() + b"\n"
    key = _key(passphrase, salt, SCRYPT)
    sealed = AESGCM(key).encrypt(nonce, gzip.compress(json.dumps(payload).encode()), MAGIC + header)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        handle.write(MAGIC + header + sealed)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)
    return path.stat().st_size


def peek(path: Path) -> dict[str, Any]:
    """The bundle's header (unauthenticated until ``read``): model id, counts, creation time."""
    return _split(path)[0]


def read(path: Path, passphrase: str, model_id: str | None = None) -> Bundle:
    """Open a bundle. With ``model_id``, a bundle for another model is refused (before and after
    decryption: the header is checked first, then the authenticated payload)."""
    header, raw_header, body = _split(path)
    if model_id is not None and header.get("model_id") != model_id:
        raise _other_model(path, str(header.get("model_id")), model_id)
    try:
        kdf = header["kdf"]
        params = {"n": int(kdf["n"]), "r": int(kdf["r"]), "p": int(kdf["p"])}
        if kdf.get("name") != "scrypt" or params["n"] > 2**20 or params["r"] > 16 or params["p"] > 4:
            raise BundleError(f"{path}: unsupported key derivation {kdf!r}")
        salt, nonce = base64.b64decode(kdf["salt"]), base64.b64decode(header["nonce"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path}: the bundle header is damaged ({exc})") from exc
    try:
        plain = AESGCM(_key(passphrase, salt, params)).decrypt(nonce, body, MAGIC + raw_header)
    except InvalidTag as exc:
        raise BundleError(f"{path}: wrong passphrase, or the bundle was changed after it was written") from exc
    try:
        return _payload(path, plain, model_id)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as exc:  # a bundle written by other software
        raise BundleError(f"{path}: the bundle opened but its contents are not a gallery ({exc})") from exc


def _payload(path: Path, plain: bytes, model_id: str | None) -> Bundle:
    payload = json.loads(gzip.decompress(plain))
    if payload.get("format") != FORMAT:
        raise BundleError(f"{path}: payload format {payload.get('format')!r} is not {FORMAT!r}")
    if model_id is not None and payload["model_id"] != model_id:
        raise _other_model(path, payload["model_id"], model_id)
    size = int(payload["embedding_size"])
    people = []
    for p in payload["people"]:
        vectors = np.frombuffer(base64.b64decode(p["vectors"]), dtype="<f4").astype(np.float32)
        if size <= 0 or len(vectors) % size:
            raise BundleError(f"{path}: templates of {p['number']} are not {size}-dimensional")
        consent = tuple(p["consent"]) if p.get("consent") else None
        people.append(BundlePerson(str(p["number"]), str(p.get("name", "")), tuple(p.get("roles", [])),
                                   p.get("pin_hash"), bool(p.get("active", True)), consent,  # type: ignore[arg-type]
                                   vectors.reshape(-1, size), [None if q is None else float(q) for q in p["quality"]],
                                   str(p.get("source", ""))))
    return Bundle(payload["model_id"], size, payload["created_at"], people)


def _split(path: Path) -> tuple[dict[str, Any], bytes, bytes]:
    """(header, the header line as written, the sealed body)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc}") from exc
    if not data.startswith(MAGIC):
        raise BundleError(f"{path} is not a LabGate gallery bundle (made by `labgate-enroll export`)")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise BundleError(f"{path}: the bundle is truncated")
    try:
        header = json.loads(data[len(MAGIC):end])
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: the bundle header is damaged ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BundleError(f"{path}: bundle format {header.get('format') if isinstance(header, dict) else None!r} "
                          f"is not {FORMAT!r}")
    return header, data[len(MAGIC):end + 1], data[end + 1:]


def _key(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hashlib.scrypt(passphrase.encode(), salt=salt, n=params["n"], r=params["r"], p=params["p"],
                          maxmem=256 * 1024 * 1024, dklen=32)


def _other_model(path: Path, theirs: str, ours: str) -> BundleError:
    return BundleError(f"{path} holds templates of model {theirs}, this kiosk runs {ours}: embeddings of two "
                       f"models are never mixed; export the gallery from a kiosk running {ours}, or re-enrol")


def export_gallery(service: EnrolmentService, path: Path, passphrase: str, actor: str,
                   numbers: list[str] | None = None) -> tuple[int, int]:
    """Write the people with templates of the service's model (or only ``numbers``) to an encrypted
    bundle at ``path``; returns (people, templates)."""
    store, model_id = service.store, service.model_id
    wanted = set(numbers or [])
    people = []
    for person in store.enrolment_overview(model_id):
        if not person["templates"] or (wanted and person["number"] not in wanted):
            continue
        record = store.person_record(person["number"]) or {}
        rows = store.template_rows(model_id, person["number"])
        consent = record.get("consent_at")
        people.append(BundlePerson(
            person["number"], record.get("name", ""), tuple(record.get("roles", ())), record.get("pin_hash"),
            bool(record.get("active", True)),
            (consent, record.get("consent_by") or "", record.get("consent_policy") or "") if consent else None,
            np.stack([r[0] for r in rows]), [r[1] for r in rows], "bundle"))
    unknown = wanted - {p.number for p in people}
    if unknown:
        raise EnrolmentRefused("invalid", f"no templates of {model_id} for {', '.join(sorted(unknown))}")
    size = write(path, Bundle(model_id, service.engine.embedder.manifest.embedding_size, now_iso(), people),
                 passphrase)
    templates = sum(len(p.vectors) for p in people)
    store.audit(actor, "bundle.export", file=path.name, people=len(people), templates=templates, model_id=model_id,
                bytes=size)
    return len(people), templates


def import_gallery(service: EnrolmentService, path: Path, passphrase: str, actor: str) -> ImportReport:
    """Enrol a bundle's people; a bundle for another model id is refused whole (``BundleError``)."""
    opened = read(path, passphrase, service.model_id)
    report = ImportReport()
    for person in opened.people:
        offered = len(person.vectors)
        try:
            service.enrol(person.number, person.vectors, list(person.quality), actor, "bundle", name=person.name,
                          roles=person.roles, pin_hash=person.pin_hash, active=person.active,
                          consent=person.consent, crops=[], detail={"bundle": path.name})
            report.people.append(PersonOutcome(person.number, person.name, "enrolled", offered, offered))
        except EnrolmentRefused as refused:
            report.people.append(PersonOutcome(person.number, person.name, "refused", offered, 0, refused.kind,
                                               str(refused)))
    service.store.audit(actor, "bundle.import", file=path.name, model_id=opened.model_id,
                        people=len(report.enrolled), refused=len(report.refused))
    return report
