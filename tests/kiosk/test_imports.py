"""The kiosk's run-time never imports torch (nor the model tools), screen included."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.kiosk.conftest import ROOT


def test_kiosk_import_graph_has_no_torch() -> None:
    code = (
        "import sys, json\n"
        "import kiosk.cli, kiosk.kiosk, kiosk.loop, kiosk.liveness, kiosk.screen.app, kiosk.demo, kiosk.scene\n"
        "heavy = ('torch', 'torchvision', 'facenet_pytorch', 'tensorboard', 'onnx', 'picamera2')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_help_teaches_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "kiosk.cli", "--help"], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert "run" in result.stdout and "add-technician" in result.stdout and "events" in result.stdout
    run_help = subprocess.run([sys.executable, "-m", "kiosk.cli", "run", "--help"], capture_output=True, text=True,
                              check=True, cwd=ROOT).stdout
    assert "--headless" in run_help and "--video" in run_help and "--enrol-demo" in run_help


def test_a_bad_config_stops_start_up_with_a_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "config.toml"
    bad.write_text('[camera]\nkind = "webcam"\n')
    result = subprocess.run([sys.executable, "-m", "kiosk.cli", "run", "--headless", "--config", str(bad)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert "[camera] kind = 'webcam'" in result.stderr and "Traceback" not in result.stderr
