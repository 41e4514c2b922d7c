"""/health: up, database reachable, and at the schema revision this code needs (else a 503 saying so)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from server.core import migrations
from server.core.database import Database


def test_health_names_the_databases_revision_and_the_codes_head(client: TestClient, database: Database) -> None:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["database"] == database.dialect
    assert body["revision"] == body["head"] == migrations.head()


def test_health_is_503_when_the_database_is_at_another_revision(client: TestClient, database: Database) -> None:
    head = migrations.head()
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'abc123'"))
    try:
        moved = client.get("/health")
        with database.engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
        emptied = client.get("/health")
    finally:
        with database.engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
    assert moved.status_code == 503 and moved.headers["content-type"] == "application/problem+json"
    detail = moved.json()["detail"]
    assert "abc123" in detail and head in detail and "labgate-server migrate" in detail, detail
    assert emptied.status_code == 503 and "not migrated" in emptied.json()["detail"]
    assert client.get("/health").status_code == 200


def test_a_healthy_probe_answered_ahead_of_the_router_carries_the_same_headers_and_is_counted(
        client: TestClient) -> None:
    """The healthy answer comes from the front door (``health.FrontDoor``), not the router: it must
    still be the route's body, carry the security headers, and be counted under the route's label."""
    before = _probes(client.get("/metrics").text)
    answers = [client.get("/health") for _ in range(3)]
    assert {answer.status_code for answer in answers} == {200}
    assert answers[0].json()["status"] == "ok" and answers[0].headers["content-type"] == "application/json"
    headers = answers[0].headers
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
    assert _probes(client.get("/metrics").text) == before + 3
    assert client.head("/health").status_code == 405, "other methods still go to the route, which takes GET only"


def _probes(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("labgate_http_requests_total{") and 'route="/health"' in line and 'status="200"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_lost_health_connection_is_replaced_and_a_stopped_database_is_a_503(
        client: TestClient, database: Database) -> None:
    """/health's own connection (on PostgreSQL, one on the event loop) ended by the database: the next
    probe is still answered (the worker thread's read, then a new connection); the revision's table gone
    is a 503 saying so, and back again is a 200."""
    assert client.get("/health").status_code == 200
    if database.dialect == "postgresql":
        with database.engine.begin() as connection:
            ended = connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND query = 'SELECT version_num FROM alembic_version'")).scalar_one()
        assert ended >= 1, "the probe's connection was found and ended"
    assert [client.get("/health").status_code for _ in range(3)] == [200] * 3
    head = migrations.head()
    with database.engine.begin() as connection:
        connection.execute(text("ALTER TABLE alembic_version RENAME TO alembic_version_away"))
    try:
        gone = client.get("/health")
    finally:
        with database.engine.begin() as connection:
            connection.execute(text("ALTER TABLE alembic_version_away RENAME TO alembic_version"))
    assert gone.status_code == 503 and "not migrated" in gone.json()["detail"], gone.text
    assert client.get("/health").json()["revision"] == head
