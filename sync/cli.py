"""labgate-sync: the kiosk's side of the kiosk-server protocol, apart from the kiosk process.

    labgate-sync provision 'labgate://provision?server=...&device=...&token=...'   (or - to read it from stdin)
    labgate-sync provision --server https://lab.example --device ID --token-stdin   (a pasted token)
                               the code works once: it is exchanged at the server for the device token
                               this kiosk makes (now, or by the sync service as soon as the server answers)
    labgate-sync once          push every waiting event, read the whole changes feed, say how it went
    labgate-sync run           keep doing that (labgate-sync.service; set [sync] enabled = false for the kiosk)
    labgate-sync status        state, outbox, last sync, clock offset, feed cursor, set-aside events
    labgate-sync issues        events the server refused (conflict, rejected); --retry sends them again

Settings come from config.toml's [sync] table (and [store] path); see the comments there.
Exit codes: 0 done, 1 the server could not be reached or refused a request, 2 bad usage or config,
3 not provisioned or not authorised, or the provisioning code was refused (provision the kiosk again).
provision exits 0 also when the server cannot be reached yet (the code is kept and exchanged later).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

try:  # Ctrl+C while the libraries load (seconds on a small, busy machine) ends as quietly as later on
    from device import config as device_config
    from device import logs
    from device.logs import log
    from device.store import Store, StoreError
    from device.watchdog import notify
    from models.settings import SettingsError
    from sync import config as sync_config
    from sync import credentials as creds
    from sync import process, state
    from sync.config import SyncConfig
    from sync.credentials import ProvisioningError
    from sync.provisioning import Exchange, activate_pending, provision
    from sync.runner import Sync
    from sync.state import State
except (KeyboardInterrupt, ImportError) as stopped:  # a native library's start interrupted says ImportError
    if not isinstance(stopped, KeyboardInterrupt) and not isinstance(stopped.__cause__, KeyboardInterrupt):
        raise
    print("labgate-sync: stopped (Ctrl+C)", file=sys.stderr)
    raise SystemExit(130) from None

EXIT = {State.OK.value: 0, State.OFFLINE.value: 1, State.ERROR.value: 1, State.STANDBY.value: 1,
        State.UNAUTHORISED.value: 3, State.UNPROVISIONED.value: 3}


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="labgate-sync", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: $LABGATE_CONFIG, else config.toml of the checkout)")
    common.add_argument("--db", help="override [store] path")
    common.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("once", parents=[common], help="push the outbox and pull the feed once")
    sub.add_parser("run", parents=[common], help="push and pull for ever (a service)")
    prov = sub.add_parser("provision", parents=[common],
                          help="keep the server's provisioning code and exchange it for this device's token")
    prov.add_argument("payload", nargs="?", help="the server's QR payload labgate://provision?...; - reads stdin")
    prov.add_argument("--server", help="the server's URL (with --device and --token-stdin)")
    prov.add_argument("--device", help="the device id the server gave")
    prov.add_argument("--token-stdin", action="store_true",
                      help="read the provisioning token (lgp_...) from standard input")
    status = sub.add_parser("status", parents=[common], help="print the sync state")
    status.add_argument("--json", action="store_true", help="as one JSON object")
    issues = sub.add_parser("issues", parents=[common], help="list events the server refused")
    issues.add_argument("--retry", action="store_true", help="send them again with the next push")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.setup(args.log_level)
    try:
        config, store_path = _settings(args)
        store = Store(store_path)
        handler = {"once": _once, "run": _run, "provision": _provision, "status": _status,
                   "issues": _issues}[args.command]
        return handler(args, store, config)
    except (SettingsError, StoreError, ProvisioningError) as exc:
        print(f"labgate-sync: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl+C outside `run` (which stops on its own signal handler)
        print("labgate-sync: stopped (Ctrl+C)", file=sys.stderr)
        return 130


def _settings(args: argparse.Namespace) -> tuple[SyncConfig, Path]:
    path = device_config.config_path(args.config)
    device = device_config.load(path)
    return sync_config.load(path), Path(args.db) if args.db else device.store.path


def _once(args: argparse.Namespace, store: Store, config: SyncConfig) -> int:
    report = Sync(store, config, handlers=_handlers(args)).once()
    pushed, pulled = report.pushed, report.pulled
    print(f"{report.state}: pushed {pushed.sent} event(s) in {pushed.batches} batch(es) (accepted {pushed.accepted}, "
          f"duplicate {pushed.duplicate}, conflict {pushed.conflict}, rejected {pushed.rejected}); pulled "
          f"{pulled.pages} page(s) (people {pulled.people}, templates {pulled.templates}, erased {pulled.erased}, "
          f"commands {pulled.commands}); outbox {store.outbox_size()}")
    if report.detail:
        print(report.detail, file=sys.stderr if report.state != State.OK.value else sys.stdout)
    return EXIT.get(report.state, 1)


def _run(args: argparse.Namespace, store: Store, config: SyncConfig) -> int:
    sync = Sync(store, config, handlers=_handlers(args))

    def on_signal(signum: int, _frame: object) -> None:
        log("signal", signal=signal.Signals(signum).name)
        sync.stop(timeout=0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    notify("READY=1")
    sync.run()
    notify("STOPPING=1")
    return 0


def _handlers(args: argparse.Namespace) -> dict[str, Any]:
    return process.handlers(device_config.config_path(args.config), in_kiosk=False)


def _provision(args: argparse.Namespace, store: Store, config: SyncConfig) -> int:
    if args.payload and (args.server or args.device or args.token_stdin):
        raise ProvisioningError("give either the QR payload or --server, --device and --token-stdin, not both")
    if args.payload:
        text = sys.stdin.readline() if args.payload == "-" else args.payload
        found = creds.parse_payload(text)
    elif args.server and args.device and args.token_stdin:
        found = creds.check(args.server, args.device, sys.stdin.readline())
    else:
        raise ProvisioningError("give the server's QR payload (labgate://provision?...), or --server, --device and "
                                "--token-stdin with the provisioning token on standard input")
    provision(store, config, found, "cli")
    print(f"provisioning code kept for device {found.device_id} at {found.server}")
    outcome = activate_pending(store, config)
    if outcome.exchange is Exchange.REFUSED:
        print(f"labgate-sync: {outcome.detail}; the credentials in use (if any) are unchanged", file=sys.stderr)
        return 3
    if outcome.exchange is Exchange.WAITING:
        print(f"{outcome.detail}; the kiosk's sync exchanges it as soon as the server answers (the code is kept)",
              file=sys.stderr)
        return 0
    print(f"activated: the server took this device's token; credentials in {config.credentials_path(store.path)}")
    return 0


def _status(args: argparse.Namespace, store: Store, config: SyncConfig) -> int:
    values = state.status(store)
    values["credentials_file"] = str(config.credentials_path(store.path))
    values["code_waiting"] = config.pending_path(store.path).exists()
    if args.json:
        print(json.dumps(values, indent=1))
        return 0
    for key, value in values.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else ("-" if value in (None, "") else value)
        print(f"{key:<17} {shown}")
    return 0


def _issues(args: argparse.Namespace, store: Store, config: SyncConfig) -> int:
    rows = store.db.conn.execute(
        "SELECT i.event_id, i.status, i.reason, i.at, e.seq FROM sync_issues i LEFT JOIN events e ON e.id = i.event_id"
        " ORDER BY e.seq").fetchall()
    for event_id, status, reason, at, seq in rows:
        print(json.dumps({"seq": seq, "id": event_id, "status": status, "reason": reason, "at": at}))
    if args.retry and rows:
        epoch = int(store.sync_value("key_epoch") or "0") + 1
        with store.writing() as db:
            db.conn.execute("DELETE FROM sync_issues")
            store.set_sync_values({"key_epoch": str(epoch)}, db)
        store.audit("cli", "sync.issues_retry", events=len(rows))
        print(f"{len(rows)} event(s) go to the server again with the next push", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
