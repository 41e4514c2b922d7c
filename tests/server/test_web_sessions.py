"""The web pages' sessions and guards on both databases: the API's login limits, sessions that end with
every other login of the person, a new cookie per role, CSRF on every post, every page behind sign-in,
and the pages' security headers beside the API's."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.auth.roles import Role
from server.web import account, me, reports
from server.web import admin as admin_pages
from server.web.policy import roles_of
from tests.server.conftest import PASSWORD, Person


def _form_token(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def web_login(app: FastAPI, number: str, password: str = PASSWORD) -> TestClient:
    """A browser of its own (its own cookies), signed in on the pages."""
    browser = TestClient(app, base_url="http://testserver", follow_redirects=False)
    token = _form_token(browser, "/login")
    answer = browser.post("/login", data={"number": number, "password": password, "csrf": token})
    assert answer.status_code == 303, answer.text
    return browser


def test_the_pages_sign_in_with_the_apis_failed_login_limits(client: TestClient, app: FastAPI,
                                                             make_person: Callable[..., Person]) -> None:
    someone = make_person(Role.STUDENT, login=False)
    browser = TestClient(app, base_url="http://testserver", follow_redirects=False)
    token = _form_token(browser, "/login")
    for _ in range(app.state.settings.login_max_failures):
        wrong = browser.post("/login", data={"number": someone.number, "password": "wrong one!", "csrf": token})
        assert wrong.status_code == 401 and "labgate_session" not in wrong.cookies
    delayed = browser.post("/login", data={"number": someone.number, "password": PASSWORD, "csrf": token})
    assert delayed.status_code == 429 and int(delayed.headers["retry-after"]) >= 1
    api = client.post("/api/v1/auth/login", json={"number": someone.number, "password": PASSWORD})
    assert api.status_code == 429, "one count for the pages and the API"


def test_a_sign_in_form_without_its_token_is_refused(app: FastAPI, make_person: Callable[..., Person]) -> None:
    someone = make_person(Role.STUDENT, login=False)
    browser = TestClient(app, base_url="http://testserver", follow_redirects=False)
    _form_token(browser, "/login")
    for token in ("", "forged"):
        answer = browser.post("/login", data={"number": someone.number, "password": PASSWORD, "csrf": token})
        assert answer.status_code == 403 and "labgate_session" not in answer.cookies


def test_web_sessions_end_with_a_new_password_and_with_deactivation(
        client: TestClient, app: FastAPI, admin: Person, make_person: Callable[..., Person]) -> None:
    first, second = make_person(Role.STUDENT, login=False), make_person(Role.STUDENT, login=False)
    browser = web_login(app, first.number)
    assert browser.get("/me/attendance").status_code == 200
    answer = client.put(f"/api/v1/people/{first.id}/password", json={"password": "another long password"},
                        headers=admin.headers)
    assert answer.status_code == 204
    assert browser.get("/me/attendance").headers["location"] == "/login"

    browser = web_login(app, second.number)
    assert client.patch(f"/api/v1/people/{second.id}", json={"active": False}, headers=admin.headers).status_code == 200
    assert browser.get("/me/attendance").headers["location"] == "/login"


def test_losing_the_chosen_role_ends_the_session(client: TestClient, app: FastAPI, admin: Person,
                                                 make_person: Callable[..., Person]) -> None:
    lecturer = make_person(Role.LECTURER, Role.STUDENT, login=False)
    browser = web_login(app, lecturer.number)
    assert browser.get("/home").headers["location"] == "/role"
    token = _form_token(browser, "/role")
    assert browser.post("/role", data={"role": "lecturer", "csrf": token}).status_code == 303
    assert browser.get("/admin/people").status_code == 200
    client.patch(f"/api/v1/people/{lecturer.id}", json={"roles": ["student"]}, headers=admin.headers)
    assert browser.get("/home").headers["location"] == "/login"


def test_choosing_a_role_gives_a_new_cookie_and_only_a_held_role(app: FastAPI,
                                                                 make_person: Callable[..., Person]) -> None:
    person = make_person(Role.HEAD, Role.STUDENT, login=False)
    browser = web_login(app, person.number)
    before = browser.cookies["labgate_session"]
    token = _form_token(browser, "/role")
    refused = browser.post("/role", data={"role": "admin", "csrf": token})
    assert refused.status_code == 422 and "does not hold the role admin" in refused.text
    without = browser.post("/role", data={"role": "head"})
    assert without.status_code == 403
    chosen = browser.post("/role", data={"role": "head", "csrf": token})
    assert chosen.status_code == 303
    after = browser.cookies["labgate_session"]
    assert after != before
    stale = TestClient(app, base_url="http://testserver", follow_redirects=False, cookies={"labgate_session": before})
    assert stale.get("/home").headers["location"] == "/login"
    assert browser.get("/admin/audit").status_code == 200


def test_every_page_wants_a_session_and_htmx_is_told_where_to_go(app: FastAPI) -> None:
    anonymous = TestClient(app, base_url="http://testserver", follow_redirects=False)
    pages = [r for module in (account, me, admin_pages, reports) for r in module.router.routes
             if r.path not in ("/", "/login")]
    assert len(pages) > 15
    for route in pages:
        path = route.path.replace("{person_id}", "x").replace("{device_id}", "x").replace("{message_id}", "x")
        for method in route.methods - {"HEAD"}:
            answer = anonymous.request(method, path, data={"csrf": "x"} if method == "POST" else None)
            assert answer.status_code == 303 and answer.headers["location"] == "/login", (method, path)
    partial = anonymous.post("/me/qr", headers={"HX-Request": "true"})
    assert partial.status_code == 204 and partial.headers["hx-redirect"] == "/login"


def test_pages_take_their_roles_from_the_api(app: FastAPI) -> None:
    assert roles_of(app, "GET /audit") == {"admin", "head"}
    assert roles_of(app, "POST /devices") == {"admin"}
    assert roles_of(app, "GET /people") == {"admin", "head", "technician", "lecturer"}


@pytest.mark.parametrize("path", ["/login", "/static/style.css"])
def test_pages_get_their_policy_and_the_api_keeps_its_own(client: TestClient, path: str) -> None:
    api = client.get("/api/v1/me")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    page = client.get(path)
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data:" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["cache-control"] == ("no-cache" if path.startswith("/static") else "no-store")


def test_of_many_role_switches_with_one_cookie_at_once_exactly_one_wins(
        app: FastAPI, make_person: Callable[..., Person]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from server.auth import sessions
    from server.core.errors import Unauthenticated

    person = make_person(Role.HEAD, Role.LECTURER, login=False)
    browser = web_login(app, person.number)
    token = browser.cookies["labgate_session"]
    database = app.state.database

    def switch(role: str) -> str | None:
        with database.session() as session:
            found = sessions.current(session, token)
            if found is None:
                return None
            try:
                return sessions.choose_role(session, found, role).token
            except Unauthenticated:
                return None

    with ThreadPoolExecutor(8) as pool:
        won = [t for t in pool.map(switch, ["head", "lecturer"] * 8) if t]
    assert len(won) == 1
    with database.session() as session:
        assert sessions.current(session, token) is None
        assert sessions.current(session, won[0]) is not None


def test_a_form_field_with_a_nul_character_is_refused_not_stored(app: FastAPI, admin: Person,
                                                                  make_person: Callable[..., Person]) -> None:
    browser = web_login(app, admin.number)
    token = _form_token(browser, "/admin/announcements")
    answer = browser.post("/admin/announcements", data={"title": "a\x00b", "body": "text", "everyone": "1",
                                                        "csrf": token})
    assert answer.status_code == 422 and "NUL" in answer.text
    signed_out = TestClient(app, base_url="http://testserver", follow_redirects=False)
    login_token = _form_token(signed_out, "/login")
    refused = signed_out.post("/login", data={"number": "19\x00", "password": "x", "csrf": login_token})
    assert refused.status_code == 422
    fine = browser.post("/admin/announcements", data={"title": "ok", "body": "text", "everyone": "1", "csrf": token})
    assert fine.status_code == 200 and "ok" in fine.text


ODD = ["", " ", "x" * 3000, "é—💥", "<script>alert(1)</script>", "-1", "2100-13-45", "admin", "1' OR '1'='1",
       "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]


def test_no_form_content_makes_a_page_fail(app: FastAPI, admin: Person) -> None:
    """Every post of every page, with odd values in every field, as an admin with a valid CSRF token:
    an answer below 500 each time."""
    browser = web_login(app, admin.number)
    token = _form_token(browser, "/home")
    fields = ["number", "name", "kind", "roles", "active", "purpose", "granted", "note", "room", "title", "body",
              "everyone", "day", "present", "reason", "email", "whatsapp", "language", "pref", "role", "dry_run",
              "idempotency"]
    posts = [r for module in (account, me, admin_pages, reports) for r in module.router.routes
             if "POST" in r.methods and r.path not in ("/login", "/logout")]
    for route in posts:
        path = route.path.replace("{person_id}", admin.id).replace("{device_id}", "nope").replace(
            "{message_id}", "nope")
        for value in ODD:
            answer = browser.post(path, data={**dict.fromkeys(fields, value), "csrf": token})
            assert answer.status_code < 500, (path, value, answer.text[:300])
            if answer.status_code == 303 and answer.headers["location"] == "/login":
                browser = web_login(app, admin.number)  # a role change took the session away
                token = _form_token(browser, "/home")


def test_an_admin_sends_a_dead_message_again_from_the_page(client: TestClient, app: FastAPI, admin: Person,
                                                           make_person: Callable[..., Person]) -> None:
    from sqlalchemy import select, update

    from server.notifications import contacts
    from server.notifications.outbox import notify
    from server.notifications.tables import Message

    someone = make_person(Role.STUDENT, login=False)
    with app.state.database.session() as session:
        contacts.set_contact(session, someone.id, {"email": "someone@example.org"})
        notify(session, topic="announcements", template="announcement", dedupe_key="dead-one",
               context={"title": "Gone", "body": "Never arrived", "author": "Lab"}, people=[someone.id])
        session.execute(update(Message).values(status="dead", last_error="smtp 550 mailbox unavailable"))
        session.commit()
        message_id = session.scalars(select(Message.id)).first()
    browser = web_login(app, admin.number)
    page = browser.get("/admin/notifications")
    assert "smtp 550 mailbox unavailable" in page.text
    token = _form_token(browser, "/admin/notifications")
    again = browser.post(f"/admin/notifications/{message_id}/resend", data={"csrf": token})
    assert again.status_code == 200 and "smtp 550" not in again.text
    with app.state.database.session() as session:
        assert session.get(Message, message_id).status == "queued"  # type: ignore[union-attr]
    log = client.get("/api/v1/audit", params={"action": "notification.resend"}, headers=admin.headers).json()
    assert [e["target_id"] for e in log] == [message_id] and log[0]["actor_role"] == "admin"
    twice = browser.post(f"/admin/notifications/{message_id}/resend", data={"csrf": token})
    assert twice.status_code == 409


def test_over_https_the_session_cookie_is_secure(app: FastAPI, make_person: Callable[..., Person]) -> None:
    someone = make_person(Role.STUDENT, login=False)
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = _form_token(browser, "/login")
    answer = browser.post("/login", data={"number": someone.number, "password": PASSWORD, "csrf": token})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("labgate_session=lgs_"))
    assert all(flag in cookie.lower() for flag in ("secure", "httponly", "samesite=lax"))
