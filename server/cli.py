"""``labgate-server``: run the server, migrate its database, create the first admin, pull a kiosk's events.

    labgate-server migrate                      # create or upgrade the schema (LABGATE_DATABASE_URL)
    labgate-server create-admin --number 1987 --name "Lab Admin"   # asks for the password
    labgate-server run --port 8480              # refuses to start on an unmigrated database
    labgate-server pull-device http://kiosk-1:8470 --token T
    labgate-server demo-kiosk --url http://127.0.0.1:8480   # make run: the demo kiosk's provisioning code
    labgate-server how-to-sign-in --url http://127.0.0.1:8480   # the admins, or the command that makes one
    labgate-server openapi > openapi.json       # needs no database
    labgate-server notify --once                # send the notifications due now, then exit
"""

from __future__ import annotations

import argparse
import getpass
import json
import shlex
import sys
from pathlib import Path
from typing import Any

try:  # Ctrl+C while the libraries load (seconds on a small, busy machine) ends as quietly as later on
    from server.core import logs
    from server.core.database import Database, DatabaseError
    from server.core.settings import Settings
except (KeyboardInterrupt, ImportError) as stopped:  # a native library's start interrupted says ImportError
    if not isinstance(stopped, KeyboardInterrupt) and not isinstance(stopped.__cause__, KeyboardInterrupt):
        raise
    print("labgate-server: stopped (Ctrl+C)", file=sys.stderr)
    raise SystemExit(130) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labgate-server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve the API (uvicorn); settings from LABGATE_* variables")
    run.add_argument("--host", help="address to listen on (LABGATE_HOST, default 127.0.0.1)")
    run.add_argument("--port", type=int, help="port (LABGATE_PORT, default 8480)")
    run.add_argument("--workers", type=int, help="processes (LABGATE_WORKERS, default 1)")
    run.add_argument("--no-access-log", action="store_true", help="no log line per request")

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.add_argument("--revision", default="head", help="target revision (default: the newest)")

    admin = commands.add_parser("create-admin", help="create a person with the admin role and a password")
    admin.add_argument("--number", required=True, help="the admin's NIP (their login)")
    admin.add_argument("--name", required=True)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    pull = commands.add_parser("pull-device", help="pull events from a kiosk that cannot reach the server")
    pull.add_argument("url", help="the kiosk's address, e.g. http://kiosk-1:8470")
    pull.add_argument("--token", required=True, help="the kiosk's events token")
    pull.add_argument("--device-id", help="refuse unless the kiosk is this device")
    pull.add_argument("--after", type=int, metavar="SEQ",
                      help="read from this seq on (0: everything) instead of resuming at the first gap; events "
                           "stored before are counted as duplicates, never stored twice")

    demo = commands.add_parser("demo-kiosk", help="register the demo kiosk once and print a new provisioning code "
                                                  "for it (make run feeds it to labgate-sync provision)")
    demo.add_argument("--url", required=True, help="the server's URL as the kiosk reaches it")
    demo.add_argument("--name", default="demo kiosk")
    demo.add_argument("--room", default="LAB-1")

    signin = commands.add_parser("how-to-sign-in", help="say who can sign in as an admin, or print the one command "
                                                        "that makes the first admin (with this database)")
    signin.add_argument("--url", default="http://127.0.0.1:8480", help="the server's URL")

    commands.add_parser("openapi", help="print the OpenAPI document (JSON); needs no database, writes no file")

    notify = commands.add_parser("notify", help="send queued notifications without the API (each server process "
                                                "already runs a sender)")
    notify.add_argument("--once", action="store_true", help="send what is due now, wait for the outcomes, exit")

    args = parser.parse_args(argv)
    logs.setup()
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"labgate-server: bad settings: {exc}", file=sys.stderr)
        return 2
    try:
        handler = {"run": _run, "migrate": _migrate, "create-admin": _create_admin, "pull-device": _pull,
                   "demo-kiosk": _demo_kiosk, "how-to-sign-in": _how_to_sign_in, "openapi": _openapi,
                   "notify": _notify}[args.command]
        return handler(settings, args)
    except DatabaseError as exc:
        print(f"labgate-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labgate-server: stopped (Ctrl+C)", file=sys.stderr)
        return 130


def _run(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from server.core import migrations

    database = Database(settings.database_url)
    migrations.check(database)
    database.dispose()
    workers = args.workers or settings.workers
    if workers > 1:
        _metrics_across_processes()
    # X-Forwarded-For is believed only from LABGATE_TRUSTED_PROXIES (the app's own middleware), and
    # the server does not name itself.
    uvicorn.run("server.app:served_app", factory=True, host=args.host or settings.host,
                port=args.port or settings.port, workers=workers,
                log_level=settings.log_level, proxy_headers=False, server_header=False,
                log_config=logs.config(settings.log_level, access=not args.no_access_log))
    return 0


def _metrics_across_processes() -> None:
    """Each worker writes its metrics to one folder and a scrape adds them up (prometheus-client's
    multiprocess mode): a folder of our own unless PROMETHEUS_MULTIPROC_DIR names one, emptied first."""
    import os
    import tempfile
    from pathlib import Path

    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="labgate-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _notify(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from server.core import migrations
    from server.notifications.runner import adapters, announce
    from server.notifications.sender import Sender
    from server.notifications.settings import NotifySettings

    try:
        notify_settings = NotifySettings()
    except ValueError as exc:
        print(f"labgate-server: bad notification settings: {exc}", file=sys.stderr)
        return 2
    announce(notify_settings)
    if not notify_settings.enabled():
        print("labgate-server: no notification channel is configured (see LABGATE_SMTP_HOST, LABGATE_FCM_CREDENTIALS, "
              "LABGATE_WHATSAPP_PHONE_NUMBER_ID); nothing can be sent", file=sys.stderr)
        return 2
    database = Database(settings.database_url)
    migrations.check(database)
    try:
        sender = Sender(database, notify_settings, adapters(notify_settings))
        if args.once:
            tally = asyncio.run(_drain(sender))
            shown = ", ".join(f"{status} {count}" for status, count in sorted(tally.items())) or "nothing was due"
            print(f"notifications: {shown}")
        else:
            asyncio.run(_forever(sender))
    finally:
        database.dispose()
    return 0


async def _drain(sender: Any) -> Any:
    try:
        return await sender.drain()
    finally:
        await sender.aclose()


async def _forever(sender: Any) -> None:
    import asyncio

    try:
        await sender.run(asyncio.Event())
    finally:
        await sender.aclose()


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from server.core import migrations

    database = Database(settings.database_url)
    try:
        before, after = migrations.upgrade(database, args.revision)
    except Exception as exc:
        raise DatabaseError(f"cannot migrate {database.describe()}: {exc}") from exc
    finally:
        database.dispose()
    print(f"database {database.describe()}: {before or 'empty'} -> {after}" if before != after else
          f"database {database.describe()} is already at {after}; nothing to do")
    return 0


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.auth import service as auth
    from server.auth.passwords import weakness
    from server.auth.roles import Role
    from server.core.errors import ServiceError
    from server.people import service as people
    from server.people.schemas import Kind, PersonIn

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    problem = weakness(password, args.number)
    if problem:
        print(f"labgate-server: {problem}; nothing was created", file=sys.stderr)
        return 1
    app = create_app(settings)
    database: Database = app.state.database
    try:
        with database.session() as session:
            person = people.create(session, None, PersonIn(number=args.number, name=args.name, kind=Kind.STAFF,
                                                           roles=[Role.ADMIN]))
            auth.set_password(session, app.state.auth_keys, None, person.id, password)
    except ServiceError as exc:
        print(f"labgate-server: {exc.detail}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"labgate-server: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"admin {args.number} created (id {person.id}); sign in with POST /api/v1/auth/login")
    return 0


def _pull(settings: Settings, args: argparse.Namespace) -> int:
    import httpx

    from server.core import migrations
    from server.pull import PullError, pull

    database = Database(settings.database_url)
    migrations.check(database)
    try:
        with database.session() as session, httpx.Client(timeout=30) as client:
            result = pull(session, client, args.url, args.token, args.device_id, args.after)
    except PullError as exc:
        print(f"labgate-server: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(result.summary())
    return 0


def _demo_kiosk(settings: Settings, args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.devices import service as devices

    app = create_app(settings)
    database: Database = app.state.database
    try:
        with database.session() as session:
            device, _token, payload = devices.demo(session, args.name, args.room, app.state.faces.model_id(),
                                                   args.url.rstrip("/"), settings.provisioning_token_hours)
    finally:
        database.dispose()
    print(f"device {device.id} ({device.name}, room {device.room}): a new provisioning code (one use) on stdout",
          file=sys.stderr)
    print(payload)
    return 0


def _how_to_sign_in(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from server.auth.roles import Role
    from server.core import migrations
    from server.people.tables import Person, PersonRole

    database = Database(settings.database_url)
    try:
        migrations.check(database)
        with database.session() as session:
            admins = session.execute(select(Person.number, Person.name).join(PersonRole).where(
                PersonRole.role == Role.ADMIN.value, Person.active.is_(True)).order_by(Person.number)).all()
    finally:
        database.dispose()
    docs = f"{args.url.rstrip('/')}/docs"
    if admins:
        shown = ", ".join(f"{number} ({name})" for number, name in admins[:5])
        print(f"sign in at {docs} (POST /api/v1/auth/login) as an admin: {shown}")
        return 0
    program = Path(sys.argv[0])
    if program.is_absolute() and program.is_relative_to(Path.cwd()):
        program = program.relative_to(Path.cwd())
    command = (f"LABGATE_DATABASE_URL={shlex.quote(database.describe())} {shlex.quote(str(program))} create-admin "
               '--number 197001012000 --name "Lab Admin"')
    print(f"no admin on this server yet; make the first one (it asks for a password), then sign in at {docs}:\n"
          f"  {command}")
    return 0


def _openapi(settings: Settings, args: argparse.Namespace) -> int:
    from server.app import openapi_document

    print(json.dumps(openapi_document(settings), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
