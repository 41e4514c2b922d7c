"""A server launcher for the fault tests: imports the server once, then forks a fresh server process
(uvicorn serving ``server.app.create_app``, the same app ``labgate-server run`` serves) on each
``start`` line read from stdin and prints its pid. The test SIGKILLs those processes itself; a
restart then costs a fork and a bind instead of a Python start (about 2 s of imports).

    python -m tests.sync.launcher PORT      (LABGATE_* settings from the environment)
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import uvicorn

from server.app import create_app
from server.core.settings import Settings

PR_SET_PDEATHSIG = 1


def serve(port: int) -> None:
    """In the child: die with the launcher, then serve until killed."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    app = create_app(Settings())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level=os.environ.get("LABGATE_LOG_LEVEL", "warning"),
                access_log=False)
    os._exit(0)


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "start":
            continue
        pid = os.fork()
        if pid == 0:
            sys.stdin.close()
            serve(port)
        print(pid, flush=True)


def _reap() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    main()
