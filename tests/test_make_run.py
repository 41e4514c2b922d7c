"""A new user's first minutes: `make run` (kiosk on the demo door, server beside it) says how to sign in
to its server with the right database, logs one format with no traceback, and ends cleanly on Ctrl+C.

The run uses its own scratch config, stores and ports, and skips the model build (`make -o models`:
`make test` has built them); it is bounded to a few minutes.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r"^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(debug|info|warning|error|critical) event=\S+")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.data
def test_make_run_says_how_to_sign_in_logs_one_format_and_stops_cleanly(tmp_path: Path, data_dir: Path,
                                                                        model_dir: Path) -> None:
    config = (ROOT / "config.toml").read_text()
    for old, new in (('dir = "artifacts/models"', f'dir = "{model_dir}"'),
                     ('path = "artifacts/kiosk/kiosk.db"', f'path = "{tmp_path / "kiosk.db"}"'),
                     ('key_file = "artifacts/kiosk/crops.key"', f'key_file = "{tmp_path / "crops.key"}"'),
                     ("port = 8470", f"port = {_free_port()}")):
        assert old in config, old
        config = config.replace(old, new)
    (tmp_path / "config.toml").write_text(config)
    port, server_db = _free_port(), tmp_path / "server.db"
    env = {**os.environ, "LABGATE_CONFIG": str(tmp_path / "config.toml"), "LABGATE_DATA": str(data_dir)}
    env.pop("DISPLAY", None)
    log = tmp_path / "make-run.log"
    with log.open("w") as sink:
        make = subprocess.Popen(["make", "-C", str(ROOT), "-o", "models", "run", f"SERVER_PORT={port}",
                                 f"SERVER_DB={server_db}"], env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "event=sync_pushed" not in log.read_text():
            assert make.poll() is None, log.read_text()
            time.sleep(1)
        assert "event=sync_pushed" in log.read_text(), "the demo kiosk never pushed an event:\n" + log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        os.killpg(make.pid, signal.SIGINT)  # Ctrl+C in the terminal
        make.wait(timeout=60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    text = log.read_text()
    assert "Traceback" not in text, text
    assert f"  LABGATE_DATABASE_URL=sqlite:///{server_db} .venv/bin/labgate-server create-admin" in text, text
    assert f"sign in at http://127.0.0.1:{port}/docs" in text
    logged = [line for line in text.splitlines() if line.startswith("ts=") or re.match(r"^[A-Z]+:\s", line)
              or " level=" in line]
    assert logged and all(LOG_LINE.match(line) for line in logged), \
        [line for line in logged if not LOG_LINE.match(line)][:5]
    assert "event=kiosk_stopped" in text and 'event=server message="Finished server process' in text
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
