"""The kiosk's run-time never imports torch, and its declared dependencies never pull it."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import requires


def test_runtime_import_graph_has_no_torch(model_dir) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys, json\n"
        "import models, models.engine, models.demo, models.cli, models.evaluation\n"
        "from models.engine import FaceEngine, EngineSettings\n"
        "import numpy as np\n"
        f"engine = FaceEngine(EngineSettings(model_dir={str(model_dir)!r}))\n"
        "engine.analyse(np.zeros((120, 160, 3), np.uint8))\n"
        "from pathlib import Path\n"
        "from models.catalog import read_index\n"
        "from models.detector import Face\n"
        "from models.liveness import LivenessChecker\n"
        f"if read_index(Path({str(model_dir)!r})).get('pad'):  # the liveness models run too\n"
        f"    checker = LivenessChecker.from_dir(Path({str(model_dir)!r}))\n"
        "    face = Face(np.array([40, 30, 100, 100], np.float32), 0.99, np.zeros((5, 2), np.float32))\n"
        "    checker.score(np.zeros((120, 160, 3), np.uint8), face)\n"
        "heavy = ('torch', 'torchvision', 'facenet_pytorch', 'tensorboard', 'onnx')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_runtime_dependencies_exclude_torch() -> None:
    base = [r for r in requires("labgate") or [] if "extra ==" not in r]
    assert base, "labgate's base dependencies are empty; is the project installed?"
    assert not [r for r in base if r.lower().startswith(("torch", "torchvision", "facenet"))]
    assert any(r.startswith("onnxruntime") for r in base)
