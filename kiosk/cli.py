"""labgate-kiosk: run the door kiosk (screen or headless), and a few technician commands.

    labgate-kiosk                       run with config.toml: the screen under a display, else headless
    labgate-kiosk run --headless        the same loop without a screen; decisions go to the log
    labgate-kiosk run --video door.mp4  a video file instead of the camera
    labgate-kiosk add-technician 19790101 --name "Budi"    (asks for a PIN)
    labgate-kiosk events --after 0      print stored events as JSON lines
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

try:  # Ctrl+C while the libraries load (seconds on a small, busy machine) ends as quietly as later on
    from device import config as device_config
    from device import logs
    from device.config import CAMERA_KINDS, Config
    from device.logs import log
    from device.store import Store, StoreError
    from device.watchdog import notify
    from kiosk.frames import SourceError
    from models import catalog
    from models.runtime import ModelError
    from models.settings import SettingsError
except (KeyboardInterrupt, ImportError) as stopped:  # a native library's start interrupted says ImportError
    if not isinstance(stopped, KeyboardInterrupt) and not isinstance(stopped.__cause__, KeyboardInterrupt):
        raise
    print("labgate-kiosk: stopped (Ctrl+C)", file=sys.stderr)
    raise SystemExit(130) from None

COMMANDS = ("run", "add-technician", "events")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="labgate-kiosk", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = main.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the kiosk (the default command)")
    run.add_argument("--config", help="config file (default: $LABGATE_CONFIG, else config.toml of the checkout)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="no screen: run the loop and log decisions")
    mode.add_argument("--screen", action="store_true", help="the door screen (needs a display)")
    run.add_argument("--camera", choices=CAMERA_KINDS, help="override [camera] kind")
    run.add_argument("--source", help="override [camera] source (device, pipeline, URL, file or folder)")
    run.add_argument("--video", help="play this video file instead of the camera")
    run.add_argument("--pace", choices=("realtime", "lockstep"), help="override [camera] pace")
    run.add_argument("--no-loop", action="store_true", help="play a file, folder or demo once")
    run.add_argument("--exit-at-end", action="store_true", help="stop when a file, folder or demo ends")
    run.add_argument("--db", help="override [store] path")
    run.add_argument("--port", type=int, help="override [http] port (0: any free port)")
    run.add_argument("--enrol-demo", action="store_true",
                     help="when nobody is enrolled, enrol the demo people from $LABGATE_DATA (make run)")
    run.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    tech = sub.add_parser("add-technician", help="add or update a technician who can open technician mode")
    tech.add_argument("number", help="the technician's NIP")
    tech.add_argument("--name", default="")
    tech.add_argument("--config")
    tech.add_argument("--db")
    tech.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    events = sub.add_parser("events", help="print stored events (the outbox) as JSON lines")
    events.add_argument("--after", type=int, default=0)
    events.add_argument("--limit", type=int, default=1000)
    events.add_argument("--config")
    events.add_argument("--db")
    return main


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help")):
        args_list.insert(0, "run")
    args = parser().parse_args(args_list)
    try:
        if args.command == "add-technician":
            return _add_technician(args)
        if args.command == "events":
            return _events(args)
        return _run(args)
    except (SettingsError, SourceError, StoreError, ModelError) as exc:
        print(f"labgate-kiosk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl+C before the loop's own handler is in place (models still loading)
        print("labgate-kiosk: stopped (Ctrl+C)", file=sys.stderr)
        return 130


def _config(args: argparse.Namespace) -> Config:
    config = device_config.load(device_config.config_path(getattr(args, "config", None)))
    if getattr(args, "db", None):
        config = replace(config, store=replace(config.store, path=Path(args.db)))
    return config


def _run(args: argparse.Namespace) -> int:
    logs.setup(args.log_level)
    config = _config(args)
    camera = config.camera
    if args.video:
        camera = replace(camera, kind="file", source=str(Path(args.video).resolve()))
    if args.camera:
        camera = replace(camera, kind=args.camera)
    if args.source is not None:
        camera = replace(camera, source=args.source)
    if args.pace:
        camera = replace(camera, pace=args.pace)
    if args.no_loop:
        camera = replace(camera, loop=False)
    config = replace(config, camera=camera)
    if args.port is not None:
        config = replace(config, http=replace(config.http, port=args.port))
    headless = args.headless or (not args.screen and not os.environ.get("DISPLAY"))
    if not args.headless and not args.screen and headless:
        log("no_display", note="DISPLAY is not set: running headless")

    from kiosk.kiosk import Kiosk  # the engine and its ONNX sessions load here

    kiosk = Kiosk(config)
    if args.enrol_demo:
        data = catalog.data_dir()
        if data is None:
            log("demo_enrol_skipped", reason="no shared face data (set LABGATE_DATA)")
        else:
            from kiosk.demo import enrol_demo

            enrol_demo(kiosk.store, kiosk.engine, data)
    if headless:
        return _headless(kiosk, args.exit_at_end)
    from kiosk.screen.app import run_screen

    return run_screen(kiosk, exit_at_end=args.exit_at_end)


def _headless(kiosk: object, exit_at_end: bool) -> int:
    from kiosk.kiosk import Kiosk

    assert isinstance(kiosk, Kiosk)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log("signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    kiosk.start(stop_at_end=exit_at_end)
    notify("READY=1")
    last_view = None
    code = 0
    while not stop.is_set():
        snap = kiosk.door.snapshot()
        shown = (snap.view, snap.prompt, snap.notice)
        if shown != last_view:
            last_view = shown
            log("door", view=snap.view.value, prompt=snap.prompt, notice=snap.notice)
            notify(f"STATUS={snap.view.value}")
        if not kiosk.loop.alive:
            if not (exit_at_end and kiosk.loop.ended):
                log("thread_died", thread="loop")
                code = 1
            break
        stop.wait(0.1)
    notify("STOPPING=1")
    kiosk.stop()
    return code


def _add_technician(args: argparse.Namespace) -> int:
    from kiosk.pin import hash_pin, valid_pin

    config = _config(args)
    pin = sys.stdin.readline().strip() if args.pin_stdin else getpass.getpass("PIN (4-8 digits): ")
    if not valid_pin(pin):
        print("labgate-kiosk: a PIN is 4 to 8 digits", file=sys.stderr)
        return 2
    store = Store(config.store.path)
    existing = store.person(args.number)
    roles = sorted({*(existing.roles if existing else ()), "technician"})
    store.upsert_person(args.number, args.name or (existing.name if existing else ""), roles, hash_pin(pin),
                        consent_at=existing.consent_at if existing else None)
    store.audit("cli", "technician.set", number=args.number)
    print(f"{args.number} can open technician mode on this kiosk ({config.store.path})")
    return 0


def _events(args: argparse.Namespace) -> int:
    config = _config(args)
    store = Store(config.store.path)
    for event in store.events_after(args.after, args.limit):
        print(json.dumps({**event.contract(), "synced_at": event.synced_at}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
