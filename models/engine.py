"""The face engine: frame -> faces -> quality -> embeddings -> matches and a decision.

One object for the kiosk, enrolment, the server's face API and the tools, so all of them see faces
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from models.calibration import DEFAULT_TARGET_FPIR, for_gallery
from models.catalog import embedder_path, model_dir
from models.decision import Decision, decide
from models.detector import Detector, DetectorSettings, Face
from models.embedder import Embedder
from models.gallery import Gallery
from models.quality import QualityReport, QualitySettings, assess
from models.runtime import Thresholds

FALLBACK_THRESHOLDS = Thresholds(accept=0.55, unknown=0.35, margin=0.05)


@dataclass(frozen=True)
class FaceResult:
    face: Face
    crop: np.ndarray  # the embedder's input crop, RGB uint8
    quality: QualityReport
    embedding: np.ndarray | None  # None when not embedded (quality failed and only passing were asked)


@dataclass(frozen=True)
class EngineSettings:
    model_dir: Path | None = None
    embedder: str = "auto"  # a file name in model_dir, or auto (the index's default)
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    embed_threads: int = 2
    flip: bool | None = None  # None: as the manifest says
    thresholds: Thresholds | None = None  # None: the manifest's calibrated thresholds
    # Share of strangers accepted as someone per walk-up at the gallery's size: τ_accept is chosen for
    # the gallery held (thresholds_for), unless the thresholds are fixed in config.toml.
    target_fpir: float = DEFAULT_TARGET_FPIR
    face_selection: str = "largest"  # which face is primary: largest (door) or centre (portraits)
    detect_max_side: int = 1024  # bigger images are downscaled to this for detection (faces stay in image pixels)


SELECTION_RULES = ("largest", "centre")


def primary_index(faces: list[Face], shape: tuple[int, ...], rule: str = "largest") -> int:
    """The main face: 'largest' (at a door, the nearest person) or 'centre' (in a portrait photo such
    as LFW's, the centred subject: box area minus twice the squared offset from the image centre)."""
    if rule == "largest":
        return int(np.argmax([f.width * f.height for f in faces]))
    if rule != "centre":
        raise ValueError(f"face selection must be one of {SELECTION_RULES}, not {rule!r}")
    centre = np.array([shape[1] / 2, shape[0] / 2])

    def weight(face: Face) -> float:
        mid = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
        return face.width * face.height - 2.0 * float(((mid - centre) ** 2).sum())

    return int(np.argmax([weight(f) for f in faces]))


class FaceEngine:
    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        directory = model_dir(self.settings.model_dir)
        self.detector = Detector(directory, self.settings.detector)
        self.embedder = Embedder(
            embedder_path(directory, self.settings.embedder), self.settings.embed_threads, self.settings.flip
        )

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def thresholds(self) -> Thresholds:
        """Config override, else the manifest's calibrated thresholds, else conservative defaults."""
        return self.settings.thresholds or self.embedder.manifest.thresholds or FALLBACK_THRESHOLDS

    def thresholds_for(self, gallery_size: int) -> Thresholds:
        """The thresholds for a gallery of ``gallery_size`` people: τ_accept from the manifest's
        calibration data at ``target_fpir`` per walk-up; fixed when config.toml sets them or the model
        carries no calibration data."""
        if self.settings.thresholds is not None:
            return self.settings.thresholds
        return for_gallery(self.thresholds, gallery_size, self.settings.target_fpir)

    def new_gallery(self) -> Gallery:
        return Gallery(self.model_id, self.embedder.manifest.embedding_size)

    def analyse(self, rgb: np.ndarray, embed: str = "passing") -> list[FaceResult]:
        """Every face in the frame, the primary one first; ``embed`` is 'passing', 'all' or 'none'."""
        if embed not in ("passing", "all", "none"):
            raise ValueError(f"embed must be passing, all or none, not {embed!r}")
        faces = self.detector.detect(rgb, self.detection_settings(rgb.shape))
        if not faces:
            return []
        first = primary_index(faces, rgb.shape, self.settings.face_selection)
        faces = [faces[first], *faces[:first], *faces[first + 1:]]
        crops = [self.embedder.crop(rgb, face) for face in faces]
        reports = [assess(face, crop, faces, self.settings.quality) for face, crop in zip(faces, crops, strict=False)]
        wanted = [i for i, r in enumerate(reports) if embed == "all" or (embed == "passing" and r.ok)]
        vectors = self.embedder.embed_crops(np.stack([crops[i] for i in wanted])) if wanted else None
        embeddings: list[np.ndarray | None] = [None] * len(faces)
        for row, i in enumerate(wanted):
            assert vectors is not None
            embeddings[i] = vectors[row]
        return [FaceResult(f, c, r, e) for f, c, r, e in zip(faces, crops, reports, embeddings, strict=False)]

    def detection_settings(self, shape: tuple[int, ...]) -> DetectorSettings:
        """The detector's settings for an image of ``shape``: one whose longer side is over
        ``detect_max_side`` is detected on a copy downscaled to it, with ``min_face`` scaled alike (as
        the kiosk's loop does for wide cameras), so a 40 Mpx photo costs about what a 1 Mpx one does;
        boxes, landmarks and the crops come back in the image's own pixels."""
        base = self.settings.detector
        longer = max(shape[0], shape[1])
        if longer <= self.settings.detect_max_side:
            return base
        factor = self.settings.detect_max_side / longer
        return replace(base, scale=base.scale * factor, min_face=max(12, round(base.min_face * factor)))

    def embed_photo(self, rgb: np.ndarray, check_quality: bool = True) -> FaceResult:
        """The primary face of a photo, embedded; its quality report says whether it passed.

        With ``check_quality`` off the face is embedded whatever its quality (evaluation, comparison).
        Raises ``NoFace`` when the detector finds nothing.
        """
        results = self.analyse(rgb, embed="none")
        if not results:
            raise NoFace("no face found in the image")
        primary = results[0]
        if check_quality and not primary.quality.ok:
            return primary
        embedding = self.embedder.embed_crops(primary.crop)[0]
        return replace(primary, embedding=embedding)

    def identify(self, embedding: np.ndarray, gallery: Gallery) -> Decision:
        """The decision on one face against ``gallery``, at the thresholds for that gallery's size."""
        return decide(gallery.match(embedding, self.model_id), self.thresholds_for(len(gallery)))


class NoFace(ValueError):
    """The image has no detectable face."""
