"""The house goes one way (docs/design.md, "Layers"; pyproject.toml's [tool.importlinter] contracts):
``lint-imports`` keeps every contract on this checkout and breaks the right one on a copy with one
wrong import, and no module imports itself back through any chain of imports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "device", "enroll", "sync", "kiosk", "server")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = "Layers: kiosk -> enroll | sync -> device -> models"
INDEPENDENT = "Enrolment and sync are independent of each other"
DOOR_APP = "The door app imports enroll and sync only where it assembles the kiosk (kiosk.kiosk)"
ACYCLIC = "No import cycles between the modules of one package"
SERVER = "The server stands on models alone"
NO_SERVER = "No part of the device imports the server"


def _house(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, to break without touching the checkout."""
    house = tmp_path / "house"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, house / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", house / "pyproject.toml")
    return house


def _lint(house: Path) -> tuple[int, set[str], str]:
    """lint-imports run on ``house``: its exit code, the contracts it reports broken, its output."""
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=house, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(house), "COLUMNS": "250"})
    output = result.stdout + result.stderr
    broken = {m.group(1) for m in re.finditer(r"^(.+?) BROKEN\b", output, re.MULTILINE)}
    return result.returncode, broken, output


def test_the_checkout_keeps_every_contract(tmp_path: Path) -> None:
    code, broken, output = _lint(_house(tmp_path))
    assert code == 0 and not broken, output
    for contract in (LAYERS, INDEPENDENT, DOOR_APP, ACYCLIC, SERVER, NO_SERVER):
        assert re.search(rf"^{re.escape(contract)} KEPT", output, re.MULTILINE), f"{contract!r} not run:\n{output}"


@pytest.mark.parametrize(("module", "wrong", "contracts", "named"), [
    ("device/logs.py", "import kiosk", {LAYERS}, "device.logs -> kiosk"),
    ("device/store.py", "from enroll import service", {LAYERS, INDEPENDENT}, "device.store -> enroll.service"),
    ("models/engine.py", "import device.events", {LAYERS, SERVER}, "models.engine -> device.events"),
    ("enroll/retention.py", "import sync.state", {LAYERS, INDEPENDENT}, "enroll.retention -> sync.state"),
    ("sync/push.py", "import kiosk.presence", {LAYERS}, "sync.push -> kiosk.presence"),
    ("kiosk/loop.py", "from sync import runner", {DOOR_APP}, "kiosk.loop -> sync.runner"),
    ("kiosk/screen/enrol.py", "from enroll.service import EnrolmentService", {DOOR_APP},
     "kiosk.screen.enrol -> enroll.service"),
    ("kiosk/screen/enrol.py", "import kiosk.screen.app", {ACYCLIC}, ".enrol -> .app"),
    ("enroll/service.py", "from enroll import folder", {ACYCLIC}, ".service -> .folder"),
    ("server/app.py", "import device.store", {SERVER}, "server.app -> device.store"),
    ("sync/client.py", "import server.devices.protocol", {NO_SERVER}, "sync.client -> server.devices.protocol"),
])
def test_a_wrong_import_breaks_its_contract(tmp_path: Path, module: str, wrong: str, contracts: set[str],
                                            named: str) -> None:
    house = _house(tmp_path)
    with (house / module).open("a") as source:
        source.write(f"\n{wrong}  # the wrong import\n")
    code, broken, output = _lint(house)
    assert code != 0, output
    assert broken == contracts, output
    assert named in output, output


def test_no_module_imports_itself_back() -> None:
    """Every chain of imports ends (type-checking imports included): no cycle between modules anywhere,
    the server's included (import-linter's acyclic contract looks at siblings within a package)."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    assert len(graph.modules) > 150
    for module in sorted(graph.modules):
        if module not in state:
            visit(module, [module])
