"""labgate-enroll: enrol, list and erase people on this kiosk, re-embed for a new model, and move a
gallery between kiosks. Every command goes through the enrolment service (the same rules as the
technician screen) and is audited in the device store under --by.

    labgate-enroll import photos/ --consent --by 19800101     photos/<NIM>/*.jpg, optional people.csv
    labgate-enroll list
    labgate-enroll remove 2201234567 --by 19800101            erase face data, PIN and record
    labgate-enroll reembed --by 19800101                      after changing [models] embedder
    labgate-enroll export gallery.lgb                         an encrypted bundle (asks a passphrase)
    labgate-enroll import-bundle gallery.lgb                  on the other kiosk (same model only)
    labgate-enroll purge                                      delete crops past [enrol] retention_days, wipe the WAL

Exit status: 0 done, 1 done but someone was refused (or not found), 2 nothing done (bad input),
3 erased but not yet wiped from the WAL: other connections (a running kiosk) held old snapshots;
the running kiosk finishes the wipe within seconds, or run `labgate-enroll purge` again.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from device import config as device_config
from device.store import WIPE_WAIT_S, Store, StoreError
from enroll import config as enrol_config
from enroll.bundle import BundleError, export_gallery, import_gallery
from enroll.crops import CropKeyError
from enroll.folder import FolderError, import_folder
from enroll.progress import ProgressBar
from enroll.reembed import reembed
from enroll.service import EnrolmentRefused, EnrolmentService, ImportReport
from models.runtime import ModelError
from models.settings import SettingsError

PASSPHRASE_ENV = "LABGATE_BUNDLE_PASSPHRASE"
NOT_WIPED_EXIT = 3
NOT_WIPED = ("old copies of the erased data are still in the database's WAL: other connections (the running "
             "kiosk?) held older snapshots for all of --wait; a running kiosk wipes them within seconds, else run "
             "`labgate-enroll purge` when the kiosk is idle")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="labgate-enroll", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: $LABGATE_CONFIG, else config.toml of the checkout)")
    common.add_argument("--db", help="override [store] path")
    common.add_argument("--by", default=None,
                        help="who does this, for the audit log (a technician's NIP; default cli:<login name>)")
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    imp = sub.add_parser("import", parents=[common], help="enrol people from a folder of photos",
                         description="Enrol everyone in DIR/<NIM or NIP>/*.jpg (DIR/people.csv: number,name[,roles]). "
                                     "Each photo must pass the quality gate; a person is refused when no photo "
                                     "passes, the photos show two people, or the face is already enrolled as "
                                     "someone else.")
    imp.add_argument("folder", type=Path)
    imp.add_argument("--consent", action="store_true",
                     help="confirm that every person in the folder agreed to the consent policy ([enrol] "
                          "consent_policy); recorded with --by and the time")
    imp.add_argument("--max-photos", type=int, default=0,
                     help="use at most the first N photos of each person, by file name (default [enrol] max_photos)")
    imp.add_argument("--dry-run", action="store_true", help="check everything, save nothing")
    imp.add_argument("--report", type=Path, help="also write every rejected photo and refused person to this CSV")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.add_argument("--bundle", action="store_true", help="FOLDER is a gallery bundle file (same as import-bundle)")
    imp.add_argument("--passphrase-file", type=Path, help="with --bundle: read the passphrase from this file")

    lst = sub.add_parser("list", parents=[common], help="people and their face data for the active model")
    lst.add_argument("--json", action="store_true", help="one JSON object per person")

    rem = sub.add_parser("remove", parents=[common], help="erase a person: templates, crops, PIN and record")
    rem.add_argument("number", nargs="+", help="NIM or NIP")
    rem.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rem.add_argument("--wait", type=float, default=WIPE_WAIT_S, metavar="SECONDS",
                     help="how long to wait for other readers (the running kiosk) to let go of old copies before "
                          f"reporting the wipe unfinished (default {WIPE_WAIT_S:g})")

    ree = sub.add_parser("reembed", parents=[common],
                         help="templates for the active model from kept crops; mark the rest for re-enrolment")
    ree.add_argument("--prune", action="store_true", help="then delete every template of other models")

    exp = sub.add_parser("export", parents=[common], help="write an encrypted gallery bundle for another kiosk")
    exp.add_argument("file", type=Path)
    exp.add_argument("--passphrase-file", type=Path, help=f"read the passphrase from this file (or ${PASSPHRASE_ENV})")
    exp.add_argument("--number", action="append", help="only this person (repeatable)")
    exp.add_argument("--force", action="store_true", help="overwrite an existing file")

    bun = sub.add_parser("import-bundle", parents=[common], help="enrol the people of a gallery bundle")
    bun.add_argument("file", type=Path)
    bun.add_argument("--passphrase-file", type=Path, help=f"read the passphrase from this file (or ${PASSPHRASE_ENV})")

    pur = sub.add_parser("purge", parents=[common],
                         help="delete crops past [enrol] retention_days (every command does, and the kiosk hourly) "
                              "and wipe deleted data from the WAL")
    pur.add_argument("--wait", type=float, default=WIPE_WAIT_S, metavar="SECONDS",
                     help=f"how long to wait for other readers (default {WIPE_WAIT_S:g})")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except (SettingsError, StoreError, ModelError, FolderError, BundleError, CropKeyError) as exc:
        print(f"labgate-enroll: {exc}", file=sys.stderr)
        return 2
    except EnrolmentRefused as exc:
        print(f"labgate-enroll: refused: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `labgate-enroll list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    actor = args.by or f"cli:{_login()}"
    config_file = device_config.config_path(args.config)
    config = device_config.load(config_file)
    if args.db:
        config = replace(config, store=replace(config.store, path=Path(args.db)))
    enrol = enrol_config.load(config_file)
    missing = _missing_store(config.store.path, creates=args.command in ("import", "import-bundle"))
    if missing:
        print(f"labgate-enroll: {missing}; nothing was created", file=sys.stderr)
        return 2
    store = Store(config.store.path)
    from models.engine import FaceEngine  # the ONNX sessions load here

    service = EnrolmentService(store, FaceEngine(config.engine), enrol)
    try:
        purged = service.purge_crops(actor, wait_s=0.0)  # retention first, as the kiosk does at its start
        if args.command == "import" and args.bundle:
            return _import_bundle(service, args.folder, args.passphrase_file, actor)
        if args.command == "import":
            return _import(service, args, actor)
        if args.command == "import-bundle":
            return _import_bundle(service, args.file, args.passphrase_file, actor)
        if args.command == "list":
            return _list(service, args.json)
        if args.command == "remove":
            return _remove(service, args.number, args.yes, actor, args.wait)
        if args.command == "reembed":
            report = reembed(service, actor, prune=args.prune)
            print(f"model {report.model_id}: {len(report.reembedded)} re-embedded from kept crops, "
                  f"{len(report.needs_reenrol)} need re-enrolment at the door"
                  + (f", {report.pruned} templates of other models deleted" if args.prune else ""))
            for number, why in sorted(report.needs_reenrol.items()):
                print(f"  needs re-enrolment  {number}  {why}")
            return 0
        if args.command == "export":
            if args.file.exists() and not args.force:
                print(f"labgate-enroll: {args.file} exists; choose another name or add --force", file=sys.stderr)
                return 2
            passphrase = _passphrase(args.passphrase_file, confirm=True)
            people, templates = export_gallery(service, args.file, passphrase, actor, args.number)
            print(f"wrote {args.file}: {people} people, {templates} templates of model {service.model_id} "
                  "(encrypted; give the passphrase separately)")
            return 0
        if args.command == "purge":
            if not service.wipe(args.wait):
                print(f"{purged} kept crops deleted")
                print(f"labgate-enroll: {NOT_WIPED}", file=sys.stderr)
                return NOT_WIPED_EXIT
            print(f"{purged} kept crops deleted; WAL wiped")
            return 0
    finally:
        store.close()
    return 2


def _missing_store(path: Path, creates: bool) -> str | None:
    """Why the device store at ``path`` cannot be used, or None: only an import may make a new one, and
    never a new folder (a mistyped --db must not leave folders and an empty store behind)."""
    if not path.parent.is_dir():
        return f"the folder {path.parent} of the device store {path} does not exist (check --db or [store] path)"
    if not creates and not path.is_file():
        return f"there is no device store at {path} (check --db or [store] path; `import` makes one)"
    return None


def _import(service: EnrolmentService, args: argparse.Namespace, actor: str) -> int:
    bar = None if args.quiet else ProgressBar("photos")
    report = import_folder(service, args.folder, actor, consent=args.consent, max_photos=args.max_photos,
                           progress=bar, dry_run=args.dry_run)
    _print_report(report, args.folder, args.dry_run)
    print(_kiosk_threshold(service))
    if args.report:
        _write_report(report, args.report)
        print(f"report: {args.report}")
    return 1 if report.refused else 0


def _print_report(report: ImportReport, folder: Path, dry_run: bool) -> None:
    photos = sum(p.photos for p in report.people)
    used = sum(p.used for p in report.people if p.status != "refused")
    verb = "would enrol" if dry_run else "enrolled"
    print(f"{folder}: {len(report.people)} people, {photos} photos; {verb} {len(report.enrolled)} people from "
          f"{used} photos; {len(report.refused)} people refused; {len(report.rejected)} photos rejected")
    if report.rejected:
        counts = Counter(r for rejection in report.rejected for r in rejection.reasons)
        print("rejected photos (" + ", ".join(f"{reason} {n}" for reason, n in counts.most_common()) + "):")
        for rejection in report.rejected:
            print(f"  {rejection.number}/{rejection.photo.name}  {','.join(rejection.reasons)}  {rejection.describe()}")
    for person in report.refused:
        print(f"refused {person.number}: {person.kind}: {person.message}")
    for note in report.notes:
        print(f"note: {note}")


def _kiosk_threshold(service: EnrolmentService) -> str:
    """The τ_accept the kiosk decides with for the gallery as it now stands (the duplicate check used
    the same rule for the gallery each person joined)."""
    from models.calibration import describe

    size = len(service.store.templates(service.model_id))  # the people the kiosk loop loads
    return f"kiosk decisions: {describe(service.engine.thresholds_for(size))}"


def _write_report(report: ImportReport, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "number", "file", "status", "reasons", "detail"])
        for rejection in report.rejected:
            writer.writerow(["photo", rejection.number, rejection.photo.name, "rejected", ";".join(rejection.reasons),
                             rejection.describe()])
        for person in report.people:
            writer.writerow(["person", person.number, "", person.status, person.kind,
                             person.message or f"{person.used} of {person.photos} photos used"])


def _import_bundle(service: EnrolmentService, file: Path, passphrase_file: Path | None, actor: str) -> int:
    report = import_gallery(service, file, _passphrase(passphrase_file), actor)
    print(f"{file}: enrolled {len(report.enrolled)} people, refused {len(report.refused)}")
    for person in report.refused:
        print(f"refused {person.number}: {person.kind}: {person.message}")
    return 1 if report.refused else 0


def _list(service: EnrolmentService, as_json: bool) -> int:
    people = service.people()
    if as_json:
        for person in people:
            print(json.dumps(person, sort_keys=True))
        return 0
    print(f"model {service.model_id}")
    print(f"{'number':<22} {'name':<26} {'templates':>9} {'other':>5} {'crops':>5}  consent")
    for p in people:
        flags = [f for f, on in (("needs re-enrolment", p["needs_reenrol"]), ("inactive", not p["active"])) if on]
        consent = f"{p['consent_at'] or '-'} by {p['consent_by'] or '-'} policy {p['consent_policy'] or '-'}"
        print(f"{p['number']:<22} {(p['name'] or '')[:26]:<26} {p['templates']:>9} {p['other_templates']:>5} "
              f"{p['crops']:>5}  {consent}" + (f"  [{', '.join(flags)}]" if flags else ""))
    enrolled = sum(1 for p in people if p["templates"])
    print(f"{len(people)} people, {enrolled} with templates of this model")
    return 0


def _remove(service: EnrolmentService, numbers: list[str], yes: bool, actor: str, wait_s: float) -> int:
    if not yes:
        if not sys.stdin.isatty():
            print("labgate-enroll: removing erases a person for good; add --yes to confirm", file=sys.stderr)
            return 2
        answer = input(f"erase {', '.join(numbers)} (templates, crops, PIN, record)? type yes: ")
        if answer.strip().lower() != "yes":
            print("nothing erased")
            return 2
    missing = unwiped = 0
    for number in numbers:
        erased = service.remove(number, actor, wait_s)
        if erased is None:
            print(f"{number}: not in this kiosk's store")
            missing += 1
            continue
        print(f"{number}: erased ({erased.templates} templates, {erased.crops} crops, PIN and record; "
              + ("WAL wiped)" if erased.wiped else "NOT yet wiped from the WAL)"))
        unwiped += not erased.wiped
    if unwiped:
        print(f"labgate-enroll: {NOT_WIPED}", file=sys.stderr)
        return NOT_WIPED_EXIT
    return 1 if missing else 0


def _passphrase(path: Path | None, confirm: bool = False) -> str:
    if path is not None:
        try:
            return path.read_text().strip("\r\n")
        except OSError as exc:
            raise BundleError(f"cannot read the passphrase file {path}: {exc}") from exc
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise BundleError(f"no passphrase: use --passphrase-file or ${PASSPHRASE_ENV}")
    first = getpass.getpass("bundle passphrase (12 characters or more): ")
    if confirm and getpass.getpass("again: ") != first:
        raise BundleError("the two passphrases differ")
    return first


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
