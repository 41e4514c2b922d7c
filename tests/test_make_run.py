"""A new user's first minutes: `make run` (kiosk on the demo door, server beside it) says how to sign in
to its server with the right database, says in one plain line that the kiosk waits for that server,
logs one format with no traceback, and ends cleanly on Ctrl+C, whether the door is working or both
programs are still starting.

Each run uses its own scratch config, stores and ports, is headless, skips the model build (`make -o
models`: `make test` has built them) and is bounded to a few minutes.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r"^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(debug|info|warning|error|critical) event=\S+")
KIOSK_STARTS = ".venv/bin/labgate-kiosk run"  # make echoes the recipe line that starts the server and the kiosk
AS_FROM_A_TERMINAL = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                      "signal.signal(signal.SIGQUIT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"]
"""Runs a command with Ctrl+C's signals as a terminal leaves them. A test runner started in the background
of a shell inherits SIGINT ignored, and so would make, the shell and the kiosk (Python keeps an ignored
SIGINT ignored until the kiosk sets its own handler): Ctrl+C during start-up was lost and make ran on."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Run:
    text: str  # everything make run printed (stdout and stderr, as a terminal shows them)
    port: int
    server_db: Path
    left: list[int]  # processes of this run still alive after make ended


def _ours(marker: str) -> list[int]:
    """Processes whose environment carries this run's config (the server and the kiosk inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _stuck(marker: str) -> str:
    """What each process of a run that did not end is doing: its command line and, for Python, its
    threads' stacks (py-spy, from the project's tools)."""
    spy = Path(sys.executable).with_name("py-spy")
    said = []
    for pid in _ours(marker):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        said.append(f"--- {pid}: {command}")
        if "python" in command and spy.exists():
            dump = subprocess.run([str(spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30)
            said.append(dump.stdout + dump.stderr)
    return "\n".join(said) or "(no process of the run left)"


def _make_run(tmp_path: Path, data_dir: Path, model_dir: Path, until: str, then_wait: float) -> Run:
    """`make run` in a scratch setting, Ctrl+C (SIGINT to its process group, as a terminal sends it)
    ``then_wait`` seconds after ``until`` appears in its output."""
    config = (ROOT / "config.toml").read_text()
    for old, new in (('dir = "artifacts/models"', f'dir = "{model_dir}"'),
                     ('path = "artifacts/kiosk/kiosk.db"', f'path = "{tmp_path / "kiosk.db"}"'),
                     ('key_file = "artifacts/kiosk/crops.key"', f'key_file = "{tmp_path / "crops.key"}"'),
                     ("port = 8470", f"port = {_free_port()}")):
        assert old in config, old
        config = config.replace(old, new)
    (tmp_path / "config.toml").write_text(config)
    port, server_db = _free_port(), tmp_path / "server.db"
    marker = f"LABGATE_CONFIG={tmp_path / 'config.toml'}"
    env = {**os.environ, "LABGATE_CONFIG": str(tmp_path / "config.toml"), "LABGATE_DATA": str(data_dir)}
    env.pop("DISPLAY", None)
    log = tmp_path / "make-run.log"
    with log.open("w") as sink:
        make = subprocess.Popen([*AS_FROM_A_TERMINAL, "make", "-C", str(ROOT), "-o", "models", "run",
                                 f"SERVER_PORT={port}", f"SERVER_DB={server_db}"], env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and until not in log.read_text():
            assert make.poll() is None, log.read_text()
            time.sleep(0.2)
        assert until in log.read_text(), f"{until!r} never came:\n" + log.read_text()
        time.sleep(then_wait)
        os.killpg(make.pid, signal.SIGINT)  # Ctrl+C in the terminal
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make run still running 60 s after Ctrl+C:\n{log.read_text()}\n{_stuck(marker)}")
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    deadline = time.monotonic() + 15
    while _ours(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _ours(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return Run(log.read_text(), port, server_db, left)


def _check_start_up(run: Run, waited: bool = True) -> None:
    """What every run shows: how to sign in with its database, one plain line while the kiosk waits for
    the server (once it got that far), no traceback, no error from make, nothing left running."""
    text = run.text
    assert "Traceback" not in text, text
    assert not re.search(r"make: \*\*\*.*Error", text), text
    assert not run.left, f"processes {run.left} outlived make run:\n{text}"
    assert f"  LABGATE_DATABASE_URL=sqlite:///{run.server_db} .venv/bin/labgate-server create-admin" in text, text
    assert f"sign in at http://127.0.0.1:{run.port}/docs" in text
    assert not re.search(r"HTTPConnectionPool|Max retries|NewConnectionError|Errno", text), text
    if waited:
        waiting = [line for line in text.splitlines() if "waits for the server" in line and not line.startswith("ts=")]
        assert len(waiting) == 1, waiting
        assert f"waits for the server at http://127.0.0.1:{run.port}: it does not answer yet" in waiting[0]


@pytest.mark.data
def test_make_run_says_how_to_sign_in_logs_one_format_and_stops_cleanly(tmp_path: Path, data_dir: Path,
                                                                        model_dir: Path) -> None:
    run = _make_run(tmp_path, data_dir, model_dir, until="event=sync_pushed", then_wait=0)
    _check_start_up(run)
    logged = [line for line in run.text.splitlines() if line.startswith("ts=") or re.match(r"^[A-Z]+:\s", line)
              or " level=" in line]
    assert logged and all(LOG_LINE.match(line) for line in logged), \
        [line for line in logged if not LOG_LINE.match(line)][:5]
    assert "make: ***" not in run.text, run.text
    assert "event=request" not in run.text, "make run leaves out a line per HTTP request"
    assert "event=kiosk_stopped" in run.text and 'event=server message="Finished server process' in run.text
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{run.port}/health", timeout=2)


@pytest.mark.data
def test_ctrl_c_while_the_kiosk_and_the_server_start_ends_cleanly(tmp_path: Path, data_dir: Path,
                                                                 model_dir: Path) -> None:
    run = _make_run(tmp_path, data_dir, model_dir, until=KIOSK_STARTS, then_wait=1.5)
    _check_start_up(run)
    assert "make: ***" not in run.text, run.text
    if "event=kiosk_started" not in run.text:  # stopped while loading its libraries and models (the usual case)
        assert "labgate-kiosk: stopped (Ctrl+C)" in run.text, run.text


@pytest.mark.data
def test_ctrl_c_while_the_kiosk_is_being_provisioned_ends_cleanly(tmp_path: Path, data_dir: Path,
                                                                  model_dir: Path) -> None:
    """`labgate-server demo-kiosk | labgate-sync provision -` are loading when Ctrl+C comes: each stops
    with one line; make says `Interrupt` (its own word for Ctrl+C) and starts nothing more."""
    run = _make_run(tmp_path, data_dir, model_dir, until="provisioning the demo kiosk against", then_wait=0.5)
    _check_start_up(run, waited=False)
    assert KIOSK_STARTS not in run.text and "event=kiosk_started" not in run.text, run.text


def test_the_readme_gives_the_sign_in_command_make_run_prints(tmp_path: Path) -> None:
    """The README's first-admin command is the one `make run` prints for its default database."""
    makefile = (ROOT / "Makefile").read_text()
    default = re.search(r"^SERVER_DB \?= (\S+)$", makefile, re.MULTILINE)
    assert default is not None
    database = tmp_path / default.group(1)
    database.parent.mkdir(parents=True)
    server = Path(sys.executable).with_name("labgate-server")
    env = {**os.environ, "LABGATE_DATABASE_URL": f"sqlite:///{database}"}
    assert subprocess.run([str(server), "migrate"], env=env, capture_output=True, timeout=120).returncode == 0
    said = subprocess.run([str(server), "how-to-sign-in"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert said.returncode == 0, said.stderr
    command = said.stdout.splitlines()[-1].strip().replace(str(tmp_path), "$PWD")
    command = command.replace(str(server), ".venv/bin/labgate-server")  # a venv outside the checkout
    assert command.startswith("LABGATE_DATABASE_URL=sqlite:///$PWD/artifacts/labgate-server.db "), command
    readme = (ROOT / "README.md").read_text()
    assert command in readme, command
    assert "export LABGATE_DATABASE_URL=sqlite:///$PWD/artifacts/labgate-server.db" in readme
