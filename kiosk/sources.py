"""Frame sources behind one small interface: ``open()``, ``read()`` an RGB frame, ``close()``.

Chosen by [camera] kind in config.toml: picamera2 (imported only when chosen), an OpenCV device
(V4L2/USB), a GStreamer pipeline (a Jetson CSI camera), an RTSP/HTTP stream, a video file, a folder
of images, or the demo: walk-ups composed from real face photos (``kiosk.scene``).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from device.config import CameraConfig
from device.logs import log
from kiosk.frames import EndOfStream, FrameSource, SourceError
from kiosk.scene import SceneSource, demo_scene
from models.datasets import image_files
from models.images import ImageError, read_image


class OpenCVSource:
    """cv2.VideoCapture: a V4L2 device, a GStreamer pipeline, a network stream or a video file."""

    def __init__(self, target: int | str, *, api: int = cv2.CAP_ANY, live: bool = True, fps: float = 15.0,
                 size: tuple[int, int] | None = None, loop: bool = False, name: str = "") -> None:
        self.target = target
        self.api = api
        self.live = live
        self.fps = fps
        self.size = size
        self.loop = loop
        self.name = name or f"opencv:{target}"
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        cap = cv2.VideoCapture(self.target, self.api)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name} could not be opened; check the cable, the device path or URL, "
                              "or set [camera] kind/source in config.toml")
        if self.live and self.size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver's queue short: we want the newest frame
        reported = cap.get(cv2.CAP_PROP_FPS)
        if not self.live and reported and 1 <= reported <= 240:
            self.fps = float(reported)
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self.live:
                raise SourceError(f"{self.name} gave no frame")
            if not self.loop:
                raise EndOfStream(self.name)
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise SourceError(f"{self.name} could not be read from the start again")
        return to_rgb(bgr, "BGR")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class Picamera2Source:
    """The Raspberry Pi camera through picamera2 (from the Pi OS packages; imported only here)."""

    live = True

    def __init__(self, size: tuple[int, int], fps: float) -> None:
        self.size = size
        self.fps = fps
        self.name = "picamera2"
        self._camera: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SourceError("picamera2 is not installed: on Raspberry Pi OS `apt install python3-picamera2` and "
                              "create the venv with --system-site-packages, or choose another [camera] kind") from exc
        try:
            camera = Picamera2()
            config = camera.create_video_configuration(
                main={"size": self.size, "format": "RGB888"}, controls={"FrameRate": self.fps}, buffer_count=2)
            camera.configure(config)
            camera.start()
        except Exception as exc:  # libcamera raises many kinds
            raise SourceError(f"picamera2 could not start the camera: {exc}") from exc
        self._camera = camera

    def read(self) -> np.ndarray | None:
        if self._camera is None:
            raise SourceError("picamera2 is not open")
        try:
            array = self._camera.capture_array("main")
        except Exception as exc:
            raise SourceError(f"picamera2 gave no frame: {exc}") from exc
        return to_rgb(array, "BGR")  # libcamera's RGB888 is B, G, R in memory

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            except Exception as exc:
                log("camera_close_failed", source=self.name, error=str(exc))
            self._camera = None


class FolderSource:
    """Every image in a folder, in name order; unreadable files are skipped with a log line."""

    live = False

    def __init__(self, folder: Path, fps: float, loop: bool) -> None:
        self.folder = folder
        self.fps = fps
        self.loop = loop
        self.name = f"folder:{folder}"
        self._files: list[Path] = []
        self._next = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder} is not a folder; set [camera] source to a folder of images")
        self._files = image_files(self.folder)
        if not self._files:
            raise SourceError(f"{self.folder} holds no images (.jpg, .png, ...)")
        self._next = 0

    def read(self) -> np.ndarray | None:
        if self._next >= len(self._files):
            if not self.loop:
                raise EndOfStream(self.name)
            self._next = 0
        path = self._files[self._next]
        self._next += 1
        try:
            return read_image(path)
        except ImageError as exc:
            log("frame_skipped", source=self.name, file=path.name, reason=str(exc))
            return None

    def close(self) -> None:
        self._files = []


def to_rgb(array: np.ndarray, order: str = "RGB") -> np.ndarray:
    """Any camera array as RGB uint8 (H, W, 3): grey and 4-channel frames converted, BGR swapped."""
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB if order == "BGR" else cv2.COLOR_RGBA2RGB)
    if array.ndim == 3 and array.shape[2] == 3 and order == "BGR":
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    return array


def video_devices() -> list[str]:
    return sorted(glob.glob("/dev/video*"))


def make_source(camera: CameraConfig, data_dir: Path | None = None) -> FrameSource:
    """The source [camera] asks for; 'auto' is the first /dev/video* device, else the demo."""
    kind, source, size = camera.kind, camera.source, (camera.width, camera.height)
    if kind == "auto":
        devices = video_devices()
        kind, source = ("device", devices[0]) if devices else ("demo", source)
        log("camera_auto", chose=kind, source=source or "-")
    if kind == "picamera2":
        return Picamera2Source(size, camera.fps)
    if kind == "device":
        target: int | str = int(source) if source.strip().isdigit() else (source or 0)
        return OpenCVSource(target, api=cv2.CAP_V4L2, live=True, fps=camera.fps, size=size, name=f"device:{target}")
    if kind == "gstreamer":
        if not source:
            raise SourceError("[camera] kind = \"gstreamer\" needs source = a pipeline ending in appsink")
        return OpenCVSource(source, api=cv2.CAP_GSTREAMER, live=True, fps=camera.fps, name="gstreamer")
    if kind == "stream":
        if "://" not in source:
            raise SourceError(f"[camera] kind = \"stream\" needs source = an rtsp:// or http:// URL, not {source!r}")
        return OpenCVSource(source, api=cv2.CAP_FFMPEG, live=True, fps=camera.fps, name=source.split("@")[-1])
    if kind == "file":
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"[camera] source = {source!r} is not a video file")
        return OpenCVSource(str(path), live=False, fps=camera.fps, loop=camera.loop, name=f"file:{path.name}")
    if kind == "folder":
        return FolderSource(Path(source), camera.fps, camera.loop)
    if kind == "demo":
        if data_dir is None:
            raise SourceError("the demo source composes real face photos: set LABGATE_DATA to the shared data "
                              "folder (with lfw_people/), or set [camera] kind to a real camera")
        scene = demo_scene(data_dir, seed=camera.demo_seed, fps=camera.fps, size=size)
        return SceneSource(scene, loop=camera.loop)
    raise SourceError(f"[camera] kind = {kind!r} is not known")
