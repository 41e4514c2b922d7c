"""Every error is an RFC 9457 problem that says what was wrong; nothing a client sends makes a 500."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.server.conftest import Kiosk, Person
from tests.server.events import event


def _is_problem(response, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body


def test_validation_errors_list_each_fault(client: TestClient, admin: Person) -> None:
    body = _is_problem(client.post("/api/v1/people", json={"number": "", "name": 5}, headers=admin.headers), 422)
    locations = [tuple(e["loc"]) for e in body["errors"]]  # type: ignore[attr-defined]
    assert ("body", "number") in locations and ("body", "name") in locations


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    assert "no endpoint" in str(_is_problem(client.get("/api/v1/nothing-here"), 404)["detail"])
    assert "not allowed" in str(_is_problem(client.put("/health"), 405)["detail"])


def test_text_no_database_can_store_is_refused(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    nul = client.post("/api/v1/auth/login", content=b'{"number": "\\u0000", "password": "x"}',
                      headers={"Content-Type": "application/json"})
    assert "NUL" in str(_is_problem(nul, 422)["detail"])
    lone = client.post("/api/v1/people", content=b'{"number": "2201", "name": "a\\ud800b"}',
                       headers={**admin.headers, "Content-Type": "application/json"})
    assert "surrogate" in str(_is_problem(lone, 422)["detail"])
    pair = client.post("/api/v1/people", content=b'{"number": "2201", "name": "Siti \\ud83d\\ude00"}',
                       headers={**admin.headers, "Content-Type": "application/json"})
    assert pair.status_code == 201
    assert _is_problem(client.get("/api/v1/people/a%00b", headers=admin.headers), 422)


def test_an_oversized_body_is_413_before_it_is_read(client: TestClient, kiosk: Kiosk) -> None:
    padding = "x" * 5_000_000
    response = client.post(f"/api/v1/devices/{kiosk.id}/events:batch", json={"events": [event(1)], "pad": padding},
                           headers={**kiosk.headers, "Idempotency-Key": str(uuid.uuid4())})
    assert "limit" in str(_is_problem(response, 413)["detail"])


def test_the_openapi_document_is_complete(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {"Problem", "Event", "FieldFault"} <= set(document["components"]["schemas"])
    assert {"UserToken", "DeviceToken"} == set(document["components"]["securitySchemes"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary") and "x-roles" in operation, (method, path)
            assert ("Roles:" in operation["description"] or "Public." in operation["description"]
                    or "Kiosks only" in operation["description"]), (method, path)
            problem = operation["responses"]["4XX"]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}
