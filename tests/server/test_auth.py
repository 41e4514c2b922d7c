"""Sign-in, roles, refresh rotation and revocation, rate limiting."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
from fastapi.testclient import TestClient

from server.auth.roles import Role
from tests.server.conftest import PASSWORD, Person, signed_in


def _login(client: TestClient, number: str, password: str = PASSWORD, role: str | None = None):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"number": number, "password": password, "role": role})


def test_one_role_signs_in_straight_away(client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.LECTURER, login=False)
    body = _login(client, person.number).json()
    assert body["kind"] == "tokens" and body["role"] == "lecturer" and body["expires_in"] == 15 * 60
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me["number"] == person.number and me["role"] == "lecturer"


def test_a_login_that_must_choose_a_role_is_a_422_problem_not_a_success(
        client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.LECTURER, Role.HEAD, login=False)
    answer = _login(client, person.number)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    choice = answer.json()
    assert choice["roles"] == ["head", "lecturer"] and "access_token" not in choice
    assert {"loc": ["body", "role"],
            "msg": "required for this account; one of ['head', 'lecturer']"} in choice["errors"]
    assert "sign in again naming one" in choice["detail"]
    # The right password for a person with several roles does not count as a failure.
    for _ in range(6):
        assert _login(client, person.number).status_code == 422


def test_the_token_carries_the_chosen_role(client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.LECTURER, Role.HEAD, login=False)
    chosen = _login(client, person.number, role="head").json()
    assert chosen["role"] == "head"
    claims = jwt.decode(chosen["access_token"], options={"verify_signature": False})
    assert claims["role"] == "head"
    headers = {"Authorization": f"Bearer {chosen['access_token']}"}
    assert client.get("/api/v1/audit", headers=headers).status_code == 200  # head may read the audit log
    as_lecturer = signed_in(client, person.number, Role.LECTURER)
    assert client.get("/api/v1/audit", headers=as_lecturer).status_code == 403
    not_held = _login(client, person.number, role="admin")
    assert not_held.status_code == 422 and "does not hold" in not_held.json()["detail"]


def test_wrong_password_is_401_problem(client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    for number in (person.number, "0000000000"):
        response = _login(client, number, "wrong password")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "the number or the password is wrong"


def test_failed_logins_are_rate_limited(client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    for _ in range(5):
        assert _login(client, person.number, "guess").status_code == 401
    blocked = _login(client, person.number)  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "too many failed logins" in blocked.json()["detail"]
    other = make_person(Role.STUDENT, login=False)
    assert _login(client, other.number).status_code == 200  # the limit is per number


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_login(client: TestClient,
                                                                       make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    first = _login(client, person.number).json()
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert after.status_code == 401 and "revoked" in after.json()["detail"]


def test_logout_revokes_the_refresh_token(client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    tokens = _login(client, person.number).json()
    assert client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_deactivating_a_person_ends_their_access(client: TestClient, admin: Person,
                                                  make_person: Callable[..., Person]) -> None:
    person = make_person(Role.LECTURER)
    assert client.get("/api/v1/me", headers=person.headers).status_code == 200
    assert client.patch(f"/api/v1/people/{person.id}", json={"active": False}, headers=admin.headers).status_code == 200
    assert client.get("/api/v1/me", headers=person.headers).status_code == 401
    assert _login(client, person.number).status_code == 401


def test_taking_a_role_away_invalidates_tokens_of_that_role(client: TestClient, admin: Person,
                                                             make_person: Callable[..., Person]) -> None:
    person = make_person(Role.TECHNICIAN)
    client.patch(f"/api/v1/people/{person.id}", json={"roles": ["student"]}, headers=admin.headers)
    response = client.get("/api/v1/me", headers=person.headers)
    assert response.status_code == 401 and "technician" in response.json()["detail"]


def test_expired_and_forged_access_tokens_are_401(client: TestClient, app, admin: Person) -> None:  # type: ignore[no-untyped-def]
    secret = app.state.auth_keys.jwt_secret
    now = int(time.time())
    expired = jwt.encode({"iss": "labgate", "sub": admin.id, "role": "admin", "typ": "access", "iat": now - 120,
                          "exp": now - 60}, secret, algorithm="HS256")
    forged = jwt.encode({"iss": "labgate", "sub": admin.id, "role": "admin", "typ": "access", "iat": now,
                         "exp": now + 60}, b"not the server's key, but long enough to sign", algorithm="HS256")
    for token, words in ((expired, "expired"), (forged, "not valid")):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401 and words in response.json()["detail"]


def test_changing_ones_password_signs_out_other_logins(client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT)
    refresh = _login(client, person.number).json()["refresh_token"]
    weak = client.put("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"},
                      headers=person.headers)
    assert weak.status_code == 422 and "at least 10" in weak.json()["detail"]
    done = client.put("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "a new long secret"},
                      headers=person.headers)
    assert done.status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    assert _login(client, person.number, "a new long secret").status_code == 200


def test_passwords_are_stored_as_argon2id(app, make_person: Callable[..., Person]) -> None:  # type: ignore[no-untyped-def]
    from server.auth.tables import Credential

    person = make_person(Role.STUDENT, login=False)
    with app.state.database.session() as session:
        stored = session.get(Credential, person.id)
    assert stored is not None and stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
