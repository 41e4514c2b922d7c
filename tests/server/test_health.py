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
