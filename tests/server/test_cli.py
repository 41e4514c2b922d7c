"""The command line and a real server process on loopback: migrate, refuse an unmigrated database,
create the first admin, serve, and pull a kiosk's events over the network."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from server.app import create_app
from server.core import migrations
from server.core.database import Database
from server.tables import metadata
from tests.server.conftest import CLI, Backends, Served, free_port, run_cli, test_settings
from tests.server.events import event

_run, _free_port = run_cli, free_port


def test_migrations_build_exactly_the_tables_the_code_declares(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert differences == []


def test_migrate_is_idempotent_and_the_server_refuses_an_unmigrated_database(backends: Backends) -> None:
    url = backends.new()
    refused = _run(url, "run", "--port", str(_free_port()))
    assert refused.returncode == 2
    assert "labgate-server migrate" in refused.stderr and "never migrated" in refused.stderr
    with pytest.raises(migrations.NotMigrated, match="labgate-server migrate"):
        create_app(test_settings(url))
    first = _run(url, "migrate")
    assert first.returncode == 0 and f"empty -> {migrations.head()}" in first.stdout, first.stderr
    second = _run(url, "migrate")
    assert second.returncode == 0 and "nothing to do" in second.stdout


def test_a_real_server_serves_the_api_on_loopback(served: Served) -> None:
    base = served.base
    health = httpx.get(f"{base}/health").json()
    assert health["status"] == "ok" and health["revision"] == migrations.head()
    tokens = httpx.post(f"{base}/api/v1/auth/login", json={"number": "1970000001",
                                                           "password": "a long admin password"}).json()
    me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me["role"] == "admin" and me["name"] == "Lab Admin"
    document = httpx.get(f"{base}/openapi.json").json()
    assert document["paths"]["/api/v1/people"]["get"]["x-roles"] == ["admin", "head", "lecturer", "technician"]


class _Kiosk(BaseHTTPRequestHandler):
    """A kiosk's pull-out endpoint as the contract gives it (design.md, "Kiosk pull-out")."""

    device_id = ""
    events: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if self.headers.get("Authorization") != "Bearer kiosk-events-token":
            self.send_response(401)
            self.end_headers()
            return
        query = parse_qs(url.query)
        after, limit = int(query["after"][0]), int(query["limit"][0])
        page = [e for e in self.events if e["seq"] > after][:limit]
        body = json.dumps({"device_id": self.device_id, "events": page,
                           "next_after": page[-1]["seq"] if page else after}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_pull_device_ingests_a_kiosks_events_once(served: Served) -> None:
    base, url = served.base, served.url
    tokens = httpx.post(f"{base}/api/v1/auth/login", json={"number": "1970000001",
                                                           "password": "a long admin password"}).json()
    admin = {"Authorization": f"Bearer {tokens['access_token']}"}
    device = httpx.post(f"{base}/api/v1/devices", json={"name": "offline door", "room": "LAB-9",
                                                        "model_id": "test-model"}, headers=admin).json()
    device_id = device["device"]["id"]
    handler = type("Kiosk", (_Kiosk,), {"device_id": device_id, "events": [event(s) for s in range(1, 1501)]})
    kiosk = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=kiosk.serve_forever, daemon=True).start()
    kiosk_url = f"http://127.0.0.1:{kiosk.server_address[1]}"
    try:
        wrong = _run(url, "pull-device", kiosk_url, "--token", "nope")
        assert wrong.returncode == 1 and "refused the token" in wrong.stderr
        pulled = _run(url, "pull-device", kiosk_url, "--token", "kiosk-events-token")
        assert pulled.returncode == 0, pulled.stderr
        assert "2 page(s); accepted 1500, duplicate 0" in pulled.stdout, pulled.stdout
        again = _run(url, "pull-device", kiosk_url, "--token", "kiosk-events-token")
        assert again.returncode == 0 and "0 page(s)" in again.stdout
    finally:
        kiosk.shutdown()
    detail = httpx.get(f"{base}/api/v1/devices/{device_id}", headers=admin).json()
    assert detail["events"] == 1500 and detail["missing_seq"] == []


@pytest.mark.parametrize("url", [None, "postgresql://nobody@127.0.0.1:1/nothing"])
def test_openapi_needs_no_database_and_leaves_no_file(tmp_path: Path, url: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LABGATE_DATABASE_URL"}
    if url:
        env["LABGATE_DATABASE_URL"] = url
    done = subprocess.run([*CLI, "openapi"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert "/api/v1/auth/login" in document["paths"] and document["info"]["title"] == "LabGate server"
    assert list(tmp_path.iterdir()) == []


def test_how_to_sign_in_names_the_admins_or_the_command_with_this_database(backends: Backends) -> None:
    url = backends.new()
    assert _run(url, "migrate").returncode == 0
    before = _run(url, "how-to-sign-in", "--url", "http://lab:8480")
    assert before.returncode == 0 and "no admin on this server yet" in before.stdout
    assert f"LABGATE_DATABASE_URL={Database(url).describe()} " in before.stdout and "create-admin" in before.stdout
    assert _run(url, "create-admin", "--number", "1970000002", "--name", "Ibu Admin", "--password-stdin",
                stdin="a long admin password\n").returncode == 0
    after = _run(url, "how-to-sign-in", "--url", "http://lab:8480")
    assert "sign in at http://lab:8480/docs" in after.stdout and "1970000002 (Ibu Admin)" in after.stdout
