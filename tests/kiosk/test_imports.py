"""The kiosk's run-time never imports torch (nor the model tools), screen included."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.kiosk.conftest import ROOT


def test_kiosk_import_graph_has_no_torch() -> None:
    code = (
        "import sys, json\n"
        "import kiosk.cli, kiosk.kiosk, kiosk.loop, kiosk.screen.app, kiosk.demo, kiosk.scene\n"
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


def _import_graph() -> dict[str, set[str]]:
    """{module: project modules it imports}, read from the source (every import, also inside functions;
    not those for type checkers only)."""
    import ast

    packages = ("models", "kiosk", "enroll", "sync", "server")
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
               for package in packages for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        tree = ast.parse(path.read_text())
        typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
                       for statement in node.body for inner in ast.walk(statement)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            found.update(t for t in targets if t in modules and t != name)
        graph[name] = found
    return graph


def test_the_arrows_point_one_way() -> None:
    """design.md: no module imports itself back; models imports none of the others; nothing but the
    server imports the server; enroll and sync use only the kiosk's leaf modules."""
    graph = _import_graph()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    top = {name: {t.split(".")[0] for t in targets} for name, targets in graph.items()}
    assert not {n for n, t in top.items() if n.startswith("models") and t - {"models"}}
    assert not {n for n, t in top.items() if not n.startswith("server") and "server" in t}
    leaves = {"kiosk", "kiosk.store", "kiosk.config", "kiosk.events", "kiosk.logs", "kiosk.watchdog"}
    wide = {(n, t) for n, targets in graph.items() if n.split(".")[0] in ("enroll", "sync")
            for t in targets if t.split(".")[0] == "kiosk" and t not in leaves}
    assert not wide, f"enroll/sync reach into the running kiosk: {sorted(wide)}"
