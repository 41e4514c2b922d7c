"""Sync's parts, against a real server on loopback where the server matters: backoff and Retry-After,
the clock offset and clock_suspect, events set aside (conflict, rejected, a batch refused whole),
commands run once and acknowledged, changes pages that break the contract, who wins for people
enrolled on the device, provisioning payloads and the credentials file, config errors, the CLI."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from device.config import FallbackConfig
from device.events import new_event
from device.store import Store
from kiosk.door import Door
from kiosk.fallback import Fallback
from kiosk.metrics import Metrics
from kiosk.pin import hash_pin
from kiosk.presence import Presence
from models.settings import SettingsError
from server.core.database import Database
from server.presence.tables import Event
from sync import credentials as creds
from sync import push, state
from sync.apply import PageError, apply_page, read_page
from sync.backoff import Backoff, retry_after
from sync.config import load as load_sync_config
from sync.provisioning import provision
from sync.runner import Sync
from tests.sync.conftest import (
    MODEL_ID,
    ROOT,
    LiveServer,
    activated_for,
    credentials_for,
    fast_config,
    write_backlog,
    write_config,
)
from tests.sync.proxy import Proxy, Request
from tests.sync.test_acceptance import through

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sync.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def kiosk(tmp_path: Path, server: LiveServer | Proxy, device: dict[str, Any], **config: Any) -> tuple[Store, Any]:
    store = Store(tmp_path / "kiosk.db")
    settings = fast_config(**config)
    provision(store, settings, credentials_for(server.url if isinstance(server, Proxy) else server.base, device),
              "test")
    return store, settings


# -- backoff and Retry-After -----------------------------------------------------------------------
def test_backoff_doubles_with_jitter_up_to_its_cap_and_never_undercuts_retry_after() -> None:
    backoff = Backoff(1.0, 30.0, random.Random(1))
    waits = [backoff.next() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True)), waits
    assert len({round(w, 6) for w in waits}) == 8, "jittered, not a fixed ladder"
    assert backoff.next(retry_after=120.0) == 120.0
    assert backoff.next(retry_after=10**9) == 3600.0, "a silly Retry-After is capped at an hour"
    backoff.reset()
    assert backoff.next() <= 1.0
    assert retry_after("7") == 7.0 and retry_after("") is None and retry_after("soon") is None
    assert 59 <= (retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))) or 0) <= 61


@sqlite_only
def test_a_503_with_retry_after_is_honoured(live_server: LiveServer, tmp_path: Path) -> None:
    refused: list[Request] = []

    def decide(request: Request) -> str | None:
        if request.path.endswith("/events:batch") and not refused:
            refused.append(request)
            return "503"
        return None

    proxy = Proxy(("127.0.0.1", live_server.port), decide=decide, retry_after=2)
    store, config = kiosk(tmp_path, proxy, live_server.register_device(), backoff_s=(0.05, 0.1), pull_interval_s=60.0)
    write_backlog(store, 10)
    sync = Sync(store, config).start()
    try:
        deadline = time.monotonic() + 20
        while store.outbox_size() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sync.stop()
        proxy.close()
    pushes = [r for r in proxy.seen if r.path.endswith("/events:batch")]
    assert store.outbox_size() == 0 and len(pushes) == 2
    assert pushes[1].at - pushes[0].at >= 2.0, "the kiosk waited as long as the server asked"
    assert pushes[1].headers["idempotency-key"] == pushes[0].headers["idempotency-key"]


# -- time ------------------------------------------------------------------------------------------
@sqlite_only
def test_a_clock_an_hour_off_is_measured_and_its_events_flagged_not_dropped(live_server: LiveServer,
                                                                            server_db: str, tmp_path: Path) -> None:
    proxy = Proxy(("127.0.0.1", live_server.port), shift_s=3600.0)  # the server's clock is an hour ahead of ours
    device = live_server.register_device()
    store, config = kiosk(tmp_path, proxy, device)
    try:
        write_backlog(store, 3)
        assert Sync(store, config).once().state == "ok"
        offset = float(store.sync_value("clock_offset_s") or 0)
        assert 3598 <= offset <= 3602
        presence = Presence(store, Door(), Metrics(), clock_offset=lambda: float(store.sync_value("clock_offset_s")
                                                                                    or 0))
        written = presence.accept_fallback("2201000001", "pin").event
        assert written is not None and written.clock_suspect
        report = Sync(store, config).once()
    finally:
        proxy.close()
    assert report.state == "ok" and report.pushed.accepted == 1 and store.outbox_size() == 0
    database = Database(server_db)
    with database.session() as session:
        row = session.scalars(select(Event).where(Event.event_id == written.id)).one()
    database.dispose()
    assert row.clock_suspect and row.seq == written.seq and row.captured_at.timestamp() == pytest.approx(
        time.time(), abs=30), "stored with the device's capture time and the flag"


# -- events the server does not take ---------------------------------------------------------------
@sqlite_only
def test_conflicts_and_rejections_are_set_aside_shown_and_never_block(live_server: LiveServer, server_db: str,
                                                                     tmp_path: Path) -> None:
    device = live_server.register_device()
    store, config = Store(tmp_path / "kiosk.db"), fast_config()
    found = activated_for(live_server.base, device)
    provision(store, config, found, "test")
    write_backlog(store, 40)
    clash = new_event("2201000002", "accept", "pin", time.time())
    bad = new_event("not a number!", "accept", "pin", time.time())
    for event in (clash, bad):
        store.record_event(event)
    write_backlog(store, 40)
    other = {**clash.contract(), "seq": 41, "person": "2201999999"}  # the same id already there, other content
    answer = requests.post(f"{live_server.base}/api/v1/devices/{device['device']['id']}/events:batch",
                           json={"events": [other]}, timeout=30,
                           headers={"Authorization": f"Bearer {found.token}", "Idempotency-Key": "x1"})
    assert answer.json()["results"][0]["status"] == "accepted"

    report = Sync(store, config).once()
    assert report.state == "ok" and (report.pushed.conflict, report.pushed.rejected) == (1, 1)
    assert store.outbox_size() == 2 and push.unsent(store, 10) == [], "the 80 others went, the two wait aside"
    issues = {row[0]: row[1:] for row in store.db.conn.execute("SELECT event_id, status, reason FROM sync_issues")}
    assert issues[clash.id][0] == "conflict" and "other content" in issues[clash.id][1]
    assert issues[bad.id][0] == "rejected" and "person" in issues[bad.id][1]
    assert state.status(store)["issues"] == {"conflict": 1, "rejected": 1}

    config_file = write_config(tmp_path / "config.toml", store.path)
    listed = cli("issues", "--config", str(config_file))
    assert listed.returncode == 0 and {json.loads(line)["id"] for line in listed.stdout.splitlines()} == {clash.id,
                                                                                                        bad.id}
    retried = cli("issues", "--retry", "--config", str(config_file))
    assert retried.returncode == 0 and "again" in retried.stderr
    assert len(push.unsent(store, 10)) == 2 and store.sync_value("key_epoch") == "1"
    again = Sync(store, config).once()  # sent again under a new key: the server judges them afresh
    assert (again.pushed.conflict, again.pushed.rejected) == (1, 1)


@sqlite_only
def test_a_batch_refused_whole_is_narrowed_down_to_the_event_it_chokes_on(live_server: LiveServer,
                                                                          tmp_path: Path) -> None:
    store = Store(tmp_path / "kiosk.db")
    ids = write_backlog(store, 64)
    poison = ids[37]
    proxy = Proxy(("127.0.0.1", live_server.port),
                  decide=lambda r: "422" if r.path.endswith("/events:batch") and poison.encode() in r.body else None)
    provision(store, fast_config(), credentials_for(proxy.url, live_server.register_device()), "test")
    try:
        report = Sync(store, fast_config(batch_size=64)).once()
    finally:
        proxy.close()
    assert report.state == "ok" and report.pushed.accepted == 63 and report.pushed.rejected == 1
    assert [row[0] for row in store.db.conn.execute("SELECT event_id FROM sync_issues")] == [poison]
    assert len([r for r in proxy.seen if r.path.endswith("/events:batch")]) <= 12, "halving, not one by one"


# -- commands --------------------------------------------------------------------------------------
@sqlite_only
def test_commands_run_once_are_acknowledged_and_a_lost_ack_is_sent_again(live_server: LiveServer,
                                                                         tmp_path: Path) -> None:
    device = live_server.register_device()
    device_id = device["device"]["id"]
    for kind in ("resync", "restart", "reload_config"):
        live_server.call("POST", f"/devices/{device_id}/commands", 201, json={"kind": kind})
    lost: list[Request] = []

    def decide(request: Request) -> str | None:
        if "/commands/" in request.path and not lost:
            lost.append(request)
            return "drop"  # the server records the ack, the kiosk never hears back
        return None

    proxy = Proxy(("127.0.0.1", live_server.port), decide=decide)
    store = Store(tmp_path / "kiosk.db")
    config_file = write_config(tmp_path / "config.toml", store.path, timeout_s=5.0, backoff_s=(0.05, 0.2))
    provision(store, fast_config(), credentials_for(proxy.url, device), "test")
    try:
        first = cli("once", "--config", str(config_file))
        assert first.returncode == 1 and "offline" in first.stdout, first.stdout + first.stderr
        second = cli("once", "--config", str(config_file))  # reload_config re-executes labgate-sync once
        assert second.returncode == 0, second.stdout + second.stderr
    finally:
        proxy.close()
    acked = {c["kind"]: c for c in live_server.call("GET", f"/devices/{device_id}/commands")}
    assert all(c["acked_at"] for c in acked.values())
    assert acked["resync"]["ok"] is True and acked["reload_config"]["ok"] is True
    assert acked["restart"]["ok"] is False and "apart from the kiosk" in acked["restart"]["detail"]
    runs = [json.loads(row[0])["kind"] for row in store.db.conn.execute(
        "SELECT detail FROM audit WHERE action = 'command.run'")]
    assert sorted(runs) == ["reload_config", "restart", "resync"], "each command ran exactly once"
    assert store.db.conn.execute("SELECT count(*) FROM commands WHERE acked_at IS NULL").fetchone()[0] == 0


# -- the changes feed ------------------------------------------------------------------------------
def test_a_page_that_breaks_the_contract_is_refused_whole_before_anything_is_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "kiosk.db")
    good = {"next_cursor": "c:3", "has_more": False, "people": [
        {"id": "p1", "number": "2201000003", "name": "Ayu", "roles": ["student"], "active": True, "pin_hash": None,
         "version": 1}], "templates": [], "removed_templates": [], "tombstones": [], "bookings": [], "config": {},
        "qr_public_key": None, "commands": []}
    broken = [({"people": [{**good["people"][0], "roles": "student"}]}, "people[0].roles"),
              ({"templates": [{"id": "t", "number": "2201000003", "model_id": "m", "vector": "!!"}]},
               "templates[0].vector"),
              ({"templates": [{"id": "t", "number": "2201000003", "model_id": "m", "vector": "AAAA" * 3}]},
               "is not a float32 vector"),
              ({"tombstones": [{"erased_at": "x"}]}, "tombstones[0].number"),
              ({"next_cursor": None}, "next_cursor"),
              ({"qr_public_key": "c2hvcnQ="}, "qr_public_key"),
              ({"bookings": [{"id": "b", "starts_at": "2026-01-02T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"}]},
               "bookings[0]")]
    for change, named in broken:
        with pytest.raises(PageError, match=named.replace("[", r"\[").replace("]", r"\]")):
            read_page({**good, **change})
    assert store.sync_value("cursor") is None and store.person("2201000003") is None
    apply_page(store, read_page(good))
    assert store.sync_value("cursor") == "c:3" and store.person("2201000003") is not None


def test_people_enrolled_here_keep_their_local_pin_and_roles_server_people_follow_the_server(tmp_path: Path) -> None:
    store = Store(tmp_path / "kiosk.db")
    local_pin = hash_pin("2468")
    store.upsert_person("19800101", "Budi", ("technician",), local_pin)  # add-technician: origin device

    def page(cursor: str, number: str, pin_hash: str | None, roles: list[str]) -> Any:
        return read_page({"next_cursor": cursor, "has_more": False, "people": [
            {"id": number, "number": number, "name": "From server", "roles": roles, "active": True,
             "pin_hash": pin_hash, "version": 2}]})

    apply_page(store, page("c:1", "19800101", None, ["staff"]))
    budi = store.person("19800101")
    assert budi is not None and budi.pin_hash == local_pin and set(budi.roles) == {"technician", "staff"}
    assert budi.name == "From server" and budi.version == 2
    server_pin = hash_pin("1357")
    apply_page(store, page("c:2", "2201000004", server_pin, ["student"]))
    apply_page(store, page("c:3", "2201000004", None, ["student"]))
    siti = store.person("2201000004")
    assert siti is not None and siti.pin_hash is None, "the server removed the PIN of a person it owns"


# -- provisioning ----------------------------------------------------------------------------------
def test_provisioning_payloads_are_checked_and_the_tokens_kept_private(tmp_path: Path) -> None:
    token = "lgp_" + "x" * 43
    found = creds.parse_payload(f"labgate://provision?server=https%3A%2F%2Flab.example%3A8480%2F&device=d-1&token="
                                f"{token}")
    assert (found.server, found.device_id, found.provisioning_token) == ("https://lab.example:8480", "d-1", token)
    assert found.pending and found.token.startswith("lgd_") and len(found.token) >= 43, "the kiosk makes its own"
    assert found.token != creds.parse_payload(f"labgate://provision?server=http%3A%2F%2Fx&device=d&token={token}").token
    assert token not in repr(found) and found.token not in repr(found)
    for payload, says in [("LG1.abc.def", "not a provisioning payload"),
                          ("labgate://provision?server=ftp%3A%2F%2Fx&device=d&token=" + token, "http"),
                          ("labgate://provision?server=http%3A%2F%2Fx&token=" + token, "device"),
                          ("labgate://provision?server=http%3A%2F%2Fx&device=d&token=short", "16 to 512"),
                          ("labgate://provision?server=http%3A%2F%2Fx&device=d&device=e&token=" + token, "device")]:
        with pytest.raises(creds.ProvisioningError, match=says):
            creds.parse_payload(payload)
    path = tmp_path / "state" / "sync-credentials.json"
    creds.save(path, found)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and creds.load(path) == found
    creds.save(path, found.activated())
    kept = creds.load(path)
    assert kept == found.activated() and not kept.pending and "provisioning_token" not in path.read_text()
    path.write_text("{not json")
    with pytest.raises(creds.ProvisioningError, match="damaged"):
        creds.load(path)


@sqlite_only
def test_a_provisioning_code_is_exchanged_once_a_lost_answer_is_retried_and_a_second_kiosk_refused(
        live_server: LiveServer, tmp_path: Path) -> None:
    device = live_server.register_device()
    lost: list[Request] = []

    def decide(request: Request) -> str | None:
        if request.path.endswith(":activate") and not lost:
            lost.append(request)
            return "drop"  # the server took the device token; the kiosk never hears back
        return None

    proxy = Proxy(("127.0.0.1", live_server.port), decide=decide)
    store, config = kiosk(tmp_path, proxy, device)
    try:
        first = Sync(store, config).once()
        assert first.state == "offline" and "provisioning code waits for the server" in first.detail, first.detail
        second = Sync(store, config).once()  # the same device token again: the server answers yes again
        assert second.state == "ok", second.detail
        activations = [r for r in proxy.seen if r.path.endswith(":activate")]
        assert len(activations) == 2 and "authorization" not in activations[0].headers
        kept = creds.load(config.credentials_path(store.path))
        assert kept is not None and not kept.pending and kept.provisioning_token is None

        # Someone else with a photo of the QR code: refused, told why, and the code dropped.
        other = Store(tmp_path / "other" / "kiosk.db")
        provision(other, config, credentials_for(live_server.base, device), "test")
        report = Sync(other, config).once()
        assert report.state == "unprovisioned", report.detail
        assert "refused the provisioning code (409)" in report.detail and "already used" in report.detail
        assert not config.pending_path(other.path).exists() and not config.credentials_path(other.path).exists()
        assert live_server.call("GET", f"/devices/{device['device']['id']}")["activated_from"] == "127.0.0.1"

        # The used code shown to the working kiosk again: refused, and its credentials stay as they were.
        config_file = write_config(tmp_path / "config.toml", store.path)
        again = cli("provision", through(device["qr_payload"], proxy.url), "--config", str(config_file))
        assert again.returncode == 3 and "already used" in again.stderr and "unchanged" in again.stderr
        assert creds.load(config.credentials_path(store.path)) == kept
        assert state.status(store)["provisioning_refused"] and Sync(store, config).once().state == "ok"
    finally:
        proxy.close()


@sqlite_only
def test_a_pulled_qr_key_and_config_reach_the_kiosks_settings(live_server: LiveServer, tmp_path: Path) -> None:
    device = live_server.register_device()
    person = live_server.call("POST", "/people", 201, json={"number": "2201000010", "name": "Rina",
                                                            "roles": ["student"]})
    store, config = kiosk(tmp_path, live_server, device)
    fallback = Fallback(store, Presence(store, Door(), Metrics()), Metrics(), FallbackConfig())
    issued = live_server.call("POST", f"/people/{person['id']}/qr-token", 201)["token"]
    assert fallback.qr(issued).reason == "no_key", "no key before the first pull"
    assert Sync(store, config).once().state == "ok"
    accepted = fallback.qr(issued)
    assert accepted.ok and accepted.greeting is not None and accepted.greeting.number == "2201000010", accepted
    assert store.events_after(0)[-1].method == "qr", "the server-signed token let Rina in, offline from here on"
    pulled = json.loads(store.setting("server_config") or "{}")
    assert (pulled["room"], pulled["name"], pulled["model_id"]) == ("LAB-1", "door LAB-1", MODEL_ID)
    live_server.call("PATCH", f"/devices/{device['device']['id']}", json={"room": "LAB-7"})
    assert Sync(store, config).once().state == "ok"
    assert json.loads(store.setting("server_config") or "{}")["room"] == "LAB-7", "a change arrives with the next pull"


def test_the_cli_teaches_and_refuses_bad_input_with_clear_messages(tmp_path: Path) -> None:
    helped = cli("--help")
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("provision", "once", "run", "status", "issues"))
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n[sync]\nbatch_size = 5000\n')
    refused = cli("status", "--config", str(bad))
    assert refused.returncode == 2 and "[sync] batch_size = 5000" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad.write_text(f'[store]\npath = "{tmp_path / "kiosk.db"}"\n[sync]\nbatchsize = 5\n')
    assert "unknown keys ['batchsize']" in cli("status", "--config", str(bad)).stderr
    with pytest.raises(SettingsError, match="backoff_s"):
        bad.write_text("[sync]\nbackoff_s = [5.0, 1.0]\n")
        load_sync_config(bad)
    good = write_config(tmp_path / "config.toml", tmp_path / "kiosk.db")
    never = cli("once", "--config", str(good))
    assert never.returncode == 3 and "unprovisioned" in never.stdout and "provision" in never.stderr
    wrong = cli("provision", "labgate://provision?server=x", "--config", str(good))
    assert wrong.returncode == 2 and "labgate-sync:" in wrong.stderr
    pasted = cli("provision", "--server", "http://127.0.0.1:9", "--device", "d-1", "--token-stdin", "--config",
                 str(good), stdin="lgp_" + "y" * 43 + "\n")
    assert pasted.returncode == 0 and "y" * 43 not in pasted.stdout + pasted.stderr
    assert "waits for the server" in pasted.stderr and "code is kept" in pasted.stderr, "exchanged later, by sync"
    status = cli("status", "--json", "--config", str(good))
    assert json.loads(status.stdout)["credentials_file"].endswith("sync-credentials.json")
    assert "y" * 43 not in status.stdout


def test_one_runner_per_store_the_other_waits_in_standby(tmp_path: Path) -> None:
    store = Store(tmp_path / "kiosk.db")
    config = fast_config()
    provision(store, config, creds.check("http://127.0.0.1:9", "d-1", "lgp_" + "z" * 43), "test")
    first = Sync(store, config)
    assert first._acquire()
    try:
        report = Sync(store, config).once()
        assert report.state == "standby" and "another process" in report.detail
    finally:
        first._release()
    assert Sync(store, config).once().state == "offline", "free again: it tries (and finds no server at port 9)"
    assert os.path.exists(str(store.path) + ".sync-lock")
    assert uuid.UUID(push.batch_key("d-1", "0", ["a", "b"])).version == 5
