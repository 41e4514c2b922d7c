"""MTCNN face detector: P-, R- and O-Net in ONNX, driven by vectorised numpy (no torch).

It follows facenet-pytorch's ``detect_face`` step by step (image pyramid, P-Net candidates with NMS
per scale and across scales, box regression, square boxes, R-Net and O-Net on batched crops, five
landmarks, a final 'Min' NMS), so its boxes and landmarks match the reference implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.runtime import Manifest, ModelError, manifest_of, session

PNET_FILE, RNET_FILE, ONET_FILE = "mtcnn-pnet.onnx", "mtcnn-rnet.onnx", "mtcnn-onet.onnx"


@dataclass(frozen=True)
class Face:
    """A detected face in image coordinates."""

    box: np.ndarray  # (4,) float32: x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2) float32: left eye, right eye, nose, mouth left, mouth right

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    def scaled(self, factor: float) -> Face:
        return Face(self.box * factor, self.score, self.landmarks * factor)


@dataclass(frozen=True)
class DetectorSettings:
    min_face: int = 20  # smallest face side to look for, in pixels of the frame given to detect()
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # P-, R-, O-Net face probability
    factor: float = 0.709  # pyramid step
    scale: float = 1.0  # downscale the frame by this before detecting (results are mapped back)
    threads: int = 1

    def __post_init__(self) -> None:
        if self.min_face < 12:
            raise ValueError(f"min_face must be at least 12 pixels (P-Net's window), got {self.min_face}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if not 0 < self.factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {self.factor}")
        if not all(0 < t < 1 for t in self.thresholds):
            raise ValueError(f"thresholds must each be in (0, 1), got {self.thresholds}")


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first.

    'union' is IoU with (x2-x1)*(y2-y1) areas (torchvision's, used for the P- and R-Net stages);
    'min' divides by the smaller area with +1 pixel sizes (MTCNN's final O-Net stage).
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    plus = 1.0 if method == "min" else 0.0
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x2 - x1 + plus, 0) * np.maximum(y2 - y1 + plus, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + plus)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + plus)
        inter = w * h
        if method == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def pyramid_scales(height: int, width: int, min_face: int, factor: float) -> list[float]:
    """Scales at which P-Net's 12-pixel window sees faces from ``min_face`` up to the whole image."""
    m = 12.0 / min_face
    side = min(height, width) * m
    scales = []
    scale = m
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def square(boxes: np.ndarray) -> np.ndarray:
    """Make boxes square around their centre, side = the longer side (MTCNN's rerec)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply R-/O-Net box regression (offsets relative to +1 pixel sizes)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


class AreaSampler:
    """Adaptive-average resizing of one image and its sub-rectangles, from one integral table.

    Output pixel i of a side of n input pixels resized to m averages inputs floor(i*n/m) ..
    ceil((i+1)*n/m)-1, exactly as torch's ``interpolate(mode="area")`` (the reference's resampler).
    OpenCV's INTER_AREA weighs fractional pixels instead, which moves marginal detections. The table
    is built once per frame and serves every pyramid level and every R-/O-Net crop.
    """

    def __init__(self, image: np.ndarray) -> None:
        depth = cv2.CV_32S if image.shape[0] * image.shape[1] * 255 < 2**31 else cv2.CV_64F
        self.table = cv2.integral(image, sdepth=depth)  # (H+1, W+1, 3)

    def resize(self, height: int, width: int) -> np.ndarray:
        """The whole image at height x width, float32 HWC."""
        ys, ye = _bins(np.zeros(1, np.int64), np.array([self.table.shape[0] - 1]), height)
        xs, xe = _bins(np.zeros(1, np.int64), np.array([self.table.shape[1] - 1]), width)
        rows = self.table[ye[0]] - self.table[ys[0]]  # (height, W+1, 3): sums over each row band
        sums = rows[:, xe[0]] - rows[:, xs[0]]
        counts = (ye[0] - ys[0])[:, None, None] * (xe[0] - xs[0])[None, :, None]
        return (sums / counts).astype(np.float32)

    def crops(self, x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, size: int) -> np.ndarray:
        """Rectangles [y1:y2, x1:x2] each resized to size x size, as one (N, size, size, 3) batch."""
        ys, ye = _bins(y1, y2 - y1, size)
        xs, xe = _bins(x1, x2 - x1, size)

        def at(y: np.ndarray, x: np.ndarray) -> np.ndarray:
            return self.table[y[:, :, None], x[:, None, :]].astype(np.int64)

        sums = at(ye, xe) - at(ys, xe) - at(ye, xs) + at(ys, xs)
        counts = (ye - ys)[:, :, None] * (xe - xs)[:, None, :]
        return (sums / counts[..., None]).astype(np.float32)


def _bins(origin: np.ndarray, length: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) input index of each of ``size`` output bins, per rectangle: (N, size)."""
    i = np.arange(size)[None, :]
    n = length[:, None]
    start = origin[:, None] + (i * n) // size
    end = origin[:, None] - ((-(i + 1) * n) // size)  # ceil
    return start, end


def crops(sampler: AreaSampler, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised NCHW crops of ``boxes`` (clipped to the image, as the reference does) at size x size.

    Returns the batch and the indices of the boxes that had a non-empty crop.
    """
    h, w = sampler.table.shape[0] - 1, sampler.table.shape[1] - 1
    ints = np.trunc(boxes[:, :4]).astype(np.int64)
    x1 = np.maximum(ints[:, 0], 1) - 1
    y1 = np.maximum(ints[:, 1], 1) - 1
    x2 = np.minimum(ints[:, 2], w)
    y2 = np.minimum(ints[:, 3], h)
    valid = np.flatnonzero((x2 > x1) & (y2 > y1))
    batch = sampler.crops(x1[valid], y1[valid], x2[valid], y2[valid], size)
    return _normalise(batch), valid


def _run(sess: ort.InferenceSession, batch: np.ndarray) -> list[np.ndarray]:
    return sess.run(None, {sess.get_inputs()[0].name: batch})  # type: ignore[no-any-return]


def _normalise(batch_nhwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(((batch_nhwc - 127.5) * 0.0078125).transpose(0, 3, 1, 2), dtype=np.float32)


class Detector:
    """MTCNN over RGB uint8 frames; ``detect`` returns faces best score first."""

    def __init__(self, model_dir: Path, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        threads = self.settings.threads
        self._pnet = session(model_dir / PNET_FILE, threads)
        self._rnet = session(model_dir / RNET_FILE, threads)
        self._onet = session(model_dir / ONET_FILE, threads)
        self.manifests: dict[str, Manifest] = {
            name: manifest_of(sess, model_dir / name)
            for name, sess in ((PNET_FILE, self._pnet), (RNET_FILE, self._rnet), (ONET_FILE, self._onet))
        }
        for name, manifest in self.manifests.items():
            if manifest.colour != "RGB" or manifest.mean != 127.5 or manifest.std != 128.0:
                raise ModelError(f"{name}: this detector feeds RGB (x-127.5)/128, the manifest says otherwise")

    @property
    def model_id(self) -> str:
        return self.manifests[ONET_FILE].model_id

    def detect(self, rgb: np.ndarray, settings: DetectorSettings | None = None) -> list[Face]:
        """Faces in ``rgb``, found with ``settings`` (this detector's own when None). A caller that
        shares the detector passes its own settings rather than changing the shared ones."""
        settings = settings or self.settings
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"detect() takes an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
        scale = settings.scale
        image = rgb
        if scale < 1.0:
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        faces = self._detect(image, settings)
        return [face.scaled(1.0 / scale) for face in faces] if scale < 1.0 else faces

    def _detect(self, image: np.ndarray, settings: DetectorSettings) -> list[Face]:
        t_p, t_r, t_o = settings.thresholds
        sampler = AreaSampler(image)
        boxes = self._stage_p(sampler, t_p, settings)
        if len(boxes) == 0:
            return []

        # R-Net: refine the P-Net candidates.
        batch, valid = crops(sampler, boxes, 24)
        boxes = boxes[valid]
        if len(boxes) == 0:
            return []
        reg, prob = _run(self._rnet, batch)
        passed = prob[:, 1] > t_r
        boxes = np.column_stack([boxes[passed, :4], prob[passed, 1]])
        reg = reg[passed]
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = square(regress(boxes[keep], reg[keep]))
        if len(boxes) == 0:
            return []

        # O-Net: final boxes and landmarks.
        batch, valid = crops(sampler, boxes, 48)
        boxes = boxes[valid]
        if len(boxes) == 0:
            return []
        reg, points, prob = _run(self._onet, batch)
        passed = prob[:, 1] > t_o
        boxes = np.column_stack([boxes[passed, :4], prob[passed, 1]])
        reg, points = reg[passed], points[passed]
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        xs = w[:, None] * points[:, :5] + boxes[:, 0:1] - 1
        ys = h[:, None] * points[:, 5:] + boxes[:, 1:2] - 1
        landmarks = np.stack([xs, ys], axis=2)
        boxes = regress(boxes, reg)
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7, method="min")
        return [
            Face(boxes[k, :4].astype(np.float32), float(boxes[k, 4]), landmarks[k].astype(np.float32))
            for k in keep
        ]

    def _stage_p(self, sampler: AreaSampler, threshold: float, settings: DetectorSettings) -> np.ndarray:
        """P-Net over the pyramid: candidate boxes (N, 5: x1 y1 x2 y2 score), regressed and squared."""
        h, w = sampler.table.shape[0] - 1, sampler.table.shape[1] - 1
        found = []
        for scale in pyramid_scales(h, w, settings.min_face, settings.factor):
            resized = sampler.resize(int(h * scale + 1), int(w * scale + 1))
            reg, prob = _run(self._pnet, _normalise(resized[None]))
            ys, xs = np.nonzero(prob[0, 1] >= threshold)
            if len(ys) == 0:
                continue
            score = prob[0, 1, ys, xs]
            offsets = reg[0][:, ys, xs].T
            cells = np.column_stack([xs, ys]).astype(np.float32)
            q1 = np.floor((2 * cells + 1) / scale)
            q2 = np.floor((2 * cells + 12) / scale)
            candidates = np.column_stack([q1, q2, score, offsets])
            found.append(candidates[nms(candidates[:, :4], candidates[:, 4], 0.5)])
        if not found:
            return np.zeros((0, 5), dtype=np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        w_ = boxes[:, 2] - boxes[:, 0]
        h_ = boxes[:, 3] - boxes[:, 1]
        regressed = np.column_stack([
            boxes[:, 0] + boxes[:, 5] * w_,
            boxes[:, 1] + boxes[:, 6] * h_,
            boxes[:, 2] + boxes[:, 7] * w_,
            boxes[:, 3] + boxes[:, 8] * h_,
            boxes[:, 4],
        ])
        return square(regressed)
