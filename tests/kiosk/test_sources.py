"""Frame sources behind one interface, chosen by [camera] kind: what ``make_source`` builds for each
kind, picamera2 imported only when it is chosen (a stand-in ``picamera2`` package in a subprocess:
the Pi camera cannot exist here), an MJPEG stream over HTTP from a loopback server of this test
(and one that stalls mid-stream), a video file and a folder of images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.config import CameraConfig
from kiosk import sources
from kiosk.camera import Camera, CameraStatus
from kiosk.frames import EndOfStream, SourceError
from kiosk.scene import Scene, SceneSource
from kiosk.sources import FolderSource, OpenCVSource, Picamera2Source, make_source
from tests.kiosk.conftest import ROOT


def _wait(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _pattern(index: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """An RGB frame: red left half, blue right half, and ``index`` written as grey bars (for order)."""
    w, h = size
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, : w // 2] = (220, 20, 20)
    rgb[:, w // 2:] = (20, 20, 220)
    rgb[: h // 8] = min(255, 40 + index * 10)
    return rgb


def _is_pattern(rgb: np.ndarray) -> bool:
    h, w = rgb.shape[:2]
    left, right = rgb[h // 2, w // 4].astype(int), rgb[h // 2, 3 * w // 4].astype(int)
    return left[0] > 180 and left[2] < 60 and right[2] > 180 and right[0] < 60  # colours in RGB order


# -- make_source, kind by kind -----------------------------------------------------------------------
def test_make_source_builds_each_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    camera = CameraConfig(width=800, height=600, fps=10.0)

    pi = make_source(replace(camera, kind="picamera2"))
    assert isinstance(pi, Picamera2Source) and pi.size == (800, 600) and pi.fps == 10.0 and pi.live

    device = make_source(replace(camera, kind="device", source="2"))
    assert isinstance(device, OpenCVSource) and device.target == 2 and device.api == cv2.CAP_V4L2
    assert device.live and device.size == (800, 600)
    assert make_source(replace(camera, kind="device", source="/dev/video7")).target == "/dev/video7"

    pipeline = "nvarguscamerasrc ! video/x-raw(memory:NVMM) ! nvvidconv ! appsink"
    gst = make_source(replace(camera, kind="gstreamer", source=pipeline))
    assert isinstance(gst, OpenCVSource) and gst.target == pipeline and gst.api == cv2.CAP_GSTREAMER
    with pytest.raises(SourceError, match="appsink"):
        make_source(replace(camera, kind="gstreamer"))

    stream = make_source(replace(camera, kind="stream", source="rtsp://admin:secret@10.0.0.9/live"))
    assert isinstance(stream, OpenCVSource) and stream.api == cv2.CAP_FFMPEG and stream.live
    assert "secret" not in stream.name, "the stream's name goes into logs: no password in it"
    with pytest.raises(SourceError, match="rtsp:// or http://"):
        make_source(replace(camera, kind="stream", source="10.0.0.9"))

    video = tmp_path / "door.avi"
    with pytest.raises(SourceError, match="not a video file"):
        make_source(replace(camera, kind="file", source=str(video)))
    video.write_bytes(b"")
    played = make_source(replace(camera, kind="file", source=str(video), loop=False))
    assert isinstance(played, OpenCVSource) and not played.live and not played.loop

    folder = make_source(replace(camera, kind="folder", source=str(tmp_path), loop=True))
    assert isinstance(folder, FolderSource) and folder.loop and not folder.live

    with pytest.raises(SourceError, match="LABGATE_DATA"):
        make_source(replace(camera, kind="demo"), data_dir=None)
    with pytest.raises(SourceError, match="'webcam' is not known"):
        make_source(replace(camera, kind="webcam"))

    monkeypatch.setattr(sources, "video_devices", lambda: ["/dev/video0", "/dev/video1"])
    auto = make_source(replace(camera, kind="auto"))
    assert isinstance(auto, OpenCVSource) and auto.target == "/dev/video0"


@pytest.mark.data
def test_auto_without_a_camera_is_the_demo_door(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "video_devices", lambda: [])
    demo = make_source(CameraConfig(kind="auto", fps=12.0), data_dir)
    assert isinstance(demo, SceneSource) and demo.loop and demo.fps == 12.0
    assert demo.scene.size == (640, 480) and len(demo.scene.walkups) >= 25
    demo.open()
    assert demo.read().shape == (480, 640, 3)


def test_a_missing_device_fails_to_open_with_what_to_do() -> None:
    source = make_source(CameraConfig(kind="device", source="/dev/video-labgate-missing"))
    with pytest.raises(SourceError, match=r"could not be opened.*\[camera\] kind/source"):
        source.open()


# -- picamera2: imported only when chosen -------------------------------------------------------------
STAND_IN = '''
"""A stand-in for the Raspberry Pi camera library (hardware this machine has not got)."""
import numpy as np

CALLS = []


class Picamera2:
    def __init__(self):
        CALLS.append("init")

    def create_video_configuration(self, main, controls, buffer_count):
        CALLS.append(["configuration", list(main["size"]), main["format"], controls["FrameRate"], buffer_count])
        return {"main": main}

    def configure(self, config):
        self.width, self.height = config["main"]["size"]

    def start(self):
        CALLS.append("start")

    def capture_array(self, name):
        # libcamera's RGB888 lies in memory as B, G, R: a red scene has its 200s in the last channel.
        array = np.zeros((self.height, self.width, 3), np.uint8)
        array[..., 2] = 200
        return array

    def stop(self):
        CALLS.append("stop")

    def close(self):
        CALLS.append("close")
'''

PROBE = '''
import json, sys, time
import kiosk.cli, kiosk.kiosk, kiosk.loop, kiosk.screen.app  # the whole run-time, screen included
from kiosk.camera import Camera
from device.config import CameraConfig
from kiosk.sources import make_source

report = {"after_import": "picamera2" in sys.modules}
for kind, source in (("device", "0"), ("stream", "rtsp://cam/live"), ("folder", ".")):
    make_source(CameraConfig(kind=kind, source=source))
report["after_other_kinds"] = "picamera2" in sys.modules
pi = make_source(CameraConfig(kind="picamera2", width=320, height=240, fps=10.0))
report["after_choosing"] = "picamera2" in sys.modules
camera = Camera(pi).start()
deadline = time.monotonic() + 20
while camera.delivered < 3 and time.monotonic() < deadline:
    time.sleep(0.02)
frame = camera.latest()
camera.stop()
import picamera2
report.update(after_open="picamera2" in sys.modules, delivered=camera.delivered, status=str(camera.status),
              shape=list(frame.rgb.shape), pixel=frame.rgb[10, 10].tolist(), calls=picamera2.CALLS)
print(json.dumps(report))
'''


def test_picamera2_is_imported_only_when_chosen_and_its_frames_are_rgb(tmp_path: Path) -> None:
    (tmp_path / "picamera2").mkdir()
    (tmp_path / "picamera2" / "__init__.py").write_text(STAND_IN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    env.pop("DISPLAY", None)
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["after_import"] is False and report["after_other_kinds"] is False
    assert report["after_choosing"] is False, "choosing it builds the source; opening it imports the library"
    assert report["after_open"] is True and report["delivered"] >= 3
    assert report["shape"] == [240, 320, 3] and report["pixel"] == [200, 0, 0], "B, G, R in memory -> red in RGB"
    assert report["calls"][:3] == ["init", ["configuration", [320, 240], "RGB888", 10.0, 2], "start"]
    assert report["calls"][-2:] == ["stop", "close"], "stopping the camera closes the Pi camera"


def test_picamera2_missing_says_how_to_install_it() -> None:
    try:
        import picamera2  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("picamera2 is installed here: the missing-library message cannot be seen")
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        Picamera2Source((640, 480), 15.0).open()


# -- an MJPEG stream over HTTP, from a loopback server of our own -------------------------------------
class _MjpegServer:
    """multipart/x-mixed-replace JPEG frames, as IP cameras serve them. ``serving`` cleared: new
    connections get 503 and open streams end; ``stalled`` set: open streams stop sending but stay open."""

    def __init__(self) -> None:
        self.serving = threading.Event()
        self.stalled = threading.Event()
        self.released = threading.Event()
        self.connections = 0
        self.serving.set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if not owner.serving.is_set() or self.path != "/door.mjpg":
                    self.send_error(503 if self.path == "/door.mjpg" else 404)
                    return
                owner.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=labgateframe")
                self.end_headers()
                index = 0
                try:
                    while owner.serving.is_set():
                        if owner.stalled.is_set():
                            owner.released.wait(60)  # a camera that hangs without closing the socket
                            return
                        jpeg = cv2.imencode(".jpg", cv2.cvtColor(_pattern(index), cv2.COLOR_RGB2BGR))[1].tobytes()
                        self.wfile.write(b"--labgateframe\r\nContent-Type: image/jpeg\r\n"
                                         b"Content-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg))
                        index += 1
                        time.sleep(1 / 30)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/door.mjpg"


@pytest.fixture
def mjpeg() -> Iterator[_MjpegServer]:
    server = _MjpegServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.serving.clear()
        server.server.shutdown()
        server.server.server_close()


def test_an_mjpeg_stream_over_http_gives_rgb_frames_and_is_reopened(mjpeg: _MjpegServer) -> None:
    config = CameraConfig(kind="stream", source=mjpeg.url, fps=30.0)
    source = make_source(config)
    assert isinstance(source, OpenCVSource) and source.name == mjpeg.url.split("@")[-1]
    camera = Camera(source, frame_timeout_s=1.0, backoff_s=(0.1, 0.4)).start()
    try:
        assert _wait(lambda: camera.delivered >= 10 and camera.status is CameraStatus.OK)
        frame = camera.latest()
        assert frame is not None and frame.rgb.shape == (240, 320, 3) and _is_pattern(frame.rgb)
        mjpeg.serving.clear()  # the camera goes away: the stream ends, new connections are refused
        assert _wait(lambda: camera.status is CameraStatus.LOST)
        assert _wait(lambda: camera.reopens >= 2), "refused reconnections are retried with backoff"
        before = camera.delivered
        mjpeg.serving.set()
        assert _wait(lambda: camera.status is CameraStatus.OK and camera.delivered > before + 10)
        assert mjpeg.connections >= 2 and camera.alive
    finally:
        camera.stop()


def test_a_stream_that_stalls_without_closing_is_given_up_and_opened_anew(mjpeg: _MjpegServer) -> None:
    config = CameraConfig(kind="stream", source=mjpeg.url, fps=30.0)
    made: list[sources.FrameSource] = []

    def reopen() -> sources.FrameSource:
        made.append(make_source(config))
        return made[-1]

    camera = Camera(make_source(config), frame_timeout_s=1.0, backoff_s=(0.1, 0.4), reopen=reopen).start()
    try:
        assert _wait(lambda: camera.delivered >= 10)
        mjpeg.stalled.set()  # the open stream stops sending: OpenCV's read() blocks inside FFmpeg
        assert _wait(lambda: camera.hangs >= 1), "a read that does not return is given up on"
        assert "read() did not return" in camera.error
        before = camera.delivered
        mjpeg.stalled.clear()  # new connections stream again (the stalled one stays stuck)
        assert _wait(lambda: camera.status is CameraStatus.OK and camera.delivered > before + 10)
        assert made and camera.source is made[-1] and camera.alive
    finally:
        mjpeg.released.set()
        camera.stop()


# -- a video file and a folder of images ---------------------------------------------------------------
class _PatternScene(Scene):
    """A scene whose frames are the numbered colour pattern (written out as a video file)."""

    def __init__(self, frames: int) -> None:
        super().__init__([], [], fps=12.0, size=(320, 240), tail=frames / 12.0)

    def frame(self, index: int) -> np.ndarray:
        return _pattern(index)


def test_a_video_file_plays_every_frame_then_ends_or_loops(tmp_path: Path) -> None:
    video = _PatternScene(12).write_video(tmp_path / "door.avi")
    once = make_source(CameraConfig(kind="file", source=str(video), fps=25.0, loop=False))
    once.open()
    assert once.fps == pytest.approx(12.0), "a file plays at its own frame rate"
    frames = []
    with pytest.raises(EndOfStream):
        while True:
            frame = once.read()
            assert frame is not None
            frames.append(frame)
    once.close()
    assert len(frames) == 12 and all(f.shape == (240, 320, 3) and _is_pattern(f) for f in frames)
    marks = [int(f[2, 5, 0]) for f in frames]
    assert all(abs(mark - (40 + 10 * i)) <= 4 for i, mark in enumerate(marks)), f"in order: {marks}"

    looping = make_source(CameraConfig(kind="file", source=str(video), loop=True))
    camera = Camera(looping, pace="lockstep").start()
    got, last = 0, 0
    while got < 30:
        frame = camera.next(last, timeout=5.0)
        assert frame is not None
        last, got = frame.index, got + 1
    camera.stop()
    assert camera.status is not CameraStatus.ENDED and got == 30, "a looping file starts again at its end"


def test_a_folder_of_images_plays_in_name_order_and_loops(tmp_path: Path) -> None:
    for i in (3, 1, 2):
        cv2.imwrite(str(tmp_path / f"shot-{i}.jpg"), cv2.cvtColor(_pattern(i), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    source = make_source(CameraConfig(kind="folder", source=str(tmp_path), fps=30.0, loop=True))
    source.open()
    frames = [source.read() for _ in range(7)]
    source.close()
    assert all(f is not None and f.shape == (240, 320, 3) and _is_pattern(f) for f in frames)
    order = [int(f[2, 5, 0]) for f in frames if f is not None]
    assert order == [order[0], order[1], order[2]] * 2 + [order[0]] and order[0] < order[1] < order[2]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError):
        make_source(CameraConfig(kind="folder", source=str(empty))).open()
