"""Every error is an RFC 9457 problem that says what was wrong; nothing a client sends makes a 500."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.core.openapi import operations, policy
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


PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _typed(schema: dict[str, Any]) -> bool:
    """A schema that says what the value is (not ``{}``, which allows anything)."""
    if "$ref" in schema or "type" in schema:
        return True
    branches = schema.get("anyOf") or schema.get("oneOf")
    return bool(branches) and all(_typed(b) for b in branches)


def openapi_faults(document: dict[str, Any], app: FastAPI) -> list[str]:
    """Everything that keeps the document from describing the API completely, one line each."""
    faults: list[str] = []
    schemas = document.get("components", {}).get("schemas", {})
    faults += [f"components lack {name}" for name in ("Problem", "Event", "FieldFault") if name not in schemas]
    if set(document.get("components", {}).get("securitySchemes", {})) != {"UserToken", "DeviceToken"}:
        faults.append("security schemes are not UserToken and DeviceToken")
    faults += [f"dangling $ref {ref}" for ref in sorted(set(_refs(document)))
               if not ref.startswith("#/components/schemas/") or ref.rsplit("/", 1)[1] not in schemas]
    routes = [(m, p, r) for m, p, r in operations(app) if m != "HEAD" and r.include_in_schema]
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    faults += [f"{m} {p} is not documented" for m, p, _ in routes if (m, p) not in documented]
    faults += [f"{m} {p} is documented but not served" for m, p in documented - {(m, p) for m, p, _ in routes}]
    for method, path, route in routes:
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is None:
            continue
        where = f"{method} {path}"
        if not operation.get("summary") or operation.get("x-roles") != policy(route):
            faults.append(f"{where}: no summary, or x-roles is not the route's policy")
        if not any(line in operation.get("description", "") for line in ("Roles:", "Public.", "Kiosks only")):
            faults.append(f"{where}: the description does not say who may call it")
        for parameter in operation.get("parameters", []):
            if not parameter.get("in") or not _typed(parameter.get("schema", {})):
                faults.append(f"{where}: parameter {parameter.get('name')} has no typed schema")
        body = operation.get("requestBody")
        if route.body_field is not None:
            contents = (body or {}).get("content", {})
            if not body or not body.get("required") or not contents or \
                    not all(_typed(c.get("schema", {})) for c in contents.values()):
                faults.append(f"{where}: takes a body but documents no typed request schema")
        elif body is not None:
            faults.append(f"{where}: documents a body it does not read")
        responses = operation.get("responses", {})
        successes = {code for code in responses if code.startswith("2")}
        if successes != {str(route.status_code or 200)}:
            faults.append(f"{where}: documents {sorted(successes)} but answers {route.status_code or 200}")
        for code in successes:
            content = responses[code].get("content")
            if code == "204":
                if content:
                    faults.append(f"{where}: a 204 documents a body")
            elif not content or not all(_typed(c.get("schema", {})) for c in content.values()):
                faults.append(f"{where}: {code} has no typed response schema")
        wanted = {"422", "4XX"} | ({"401", "403"} if operation.get("x-roles") else set())
        faults += [f"{where}: {code} is not documented" for code in sorted(wanted - set(responses))]
        for code, answer in responses.items():
            if code[0] in "45" and answer.get("content") != {"application/problem+json": {"schema": PROBLEM}}:
                faults.append(f"{where}: {code} is not a problem+json Problem")
        if "401" in responses and "WWW-Authenticate" not in responses["401"].get("headers", {}):
            faults.append(f"{where}: 401 does not document WWW-Authenticate")
        if "429" in responses and "Retry-After" not in responses["429"].get("headers", {}):
            faults.append(f"{where}: 429 does not document Retry-After")
    login = document["paths"].get("/api/v1/auth/login", {}).get("post", {})
    if "429" not in login.get("responses", {}):
        faults.append("POST /api/v1/auth/login: the rate limit (429) is not documented")
    batch = schemas.get("EventBatchIn", {}).get("properties", {}).get("events", {})
    if batch.get("items") != {"$ref": "#/components/schemas/Event"}:
        faults.append(f"the batch's events are not Events: {batch.get('items')}")
    if len(schemas.get("Event", {}).get("oneOf", [])) != 4:  # accept, unknown, spoof faces; PIN/QR/manual
        faults.append("the Event schema does not carry the rules between its fields (oneOf)")
    return faults


def test_the_openapi_document_is_complete(app: FastAPI, client: TestClient) -> None:
    assert openapi_faults(client.get("/openapi.json").json(), app) == []


def test_the_completeness_check_finds_each_kind_of_gap(app: FastAPI, client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    breakages: dict[str, Callable[[dict[str, Any]], None]] = {
        "typed response": lambda d: d["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"][
            "application/json"].update(schema={}),
        "typed request": lambda d: d["paths"]["/api/v1/people"]["post"].pop("requestBody"),
        "are not Events": lambda d: d["components"]["schemas"]["EventBatchIn"]["properties"]["events"].update(
            items={"type": "object"}),
        "Retry-After": lambda d: d["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"].pop("headers"),
        "dangling": lambda d: d["components"]["schemas"].pop("FieldFault"),
        "answers 201": lambda d: d["paths"]["/api/v1/people"]["post"]["responses"].update(
            {"200": d["paths"]["/api/v1/people"]["post"]["responses"].pop("201")}),
        "401 is not documented": lambda d: d["paths"]["/api/v1/audit"]["get"]["responses"].pop("401"),
        "not a problem": lambda d: d["paths"]["/health"]["get"]["responses"]["503"].update(content={}),
        "not documented": lambda d: d["paths"].pop("/api/v1/tombstones"),
    }
    for expected, breakage in breakages.items():
        broken = copy.deepcopy(document)
        breakage(broken)
        faults = openapi_faults(broken, app)
        assert any(expected in fault for fault in faults), (expected, faults)
