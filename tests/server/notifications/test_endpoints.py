"""The notification endpoints on SQLite and PostgreSQL: one's own contact, push tokens and preferences,
admins' view of contacts and dead letters (and resend), announcements and who may read them, the
WhatsApp webhook's signature and challenge, erasure, and /metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from server.app import create_app
from server.auth.roles import Role
from server.core.clock import utcnow
from server.core.database import Database
from server.core.settings import Settings
from server.notifications.outbox import notify
from server.notifications.settings import NotifySettings
from server.notifications.tables import Contact, Message, PushToken
from server.notifications.webhook import signature
from tests.server.conftest import WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, Person

API = "/api/v1"
WEBHOOK = f"{API}/notifications/whatsapp/webhook"


def _messages(database: Database) -> list[Message]:
    with database.session() as session:
        return list(session.scalars(select(Message).order_by(Message.created_at, Message.id)))


def test_a_person_sets_their_contact_and_an_unreadable_number_is_a_422_naming_it(
        client: TestClient, make_person: Callable[..., Person]) -> None:
    siti = make_person(Role.STUDENT)
    empty = client.get(f"{API}/me/contact", headers=siti.headers).json()
    assert empty["email"] is None and empty["language"] == "id"
    saved = client.put(f"{API}/me/contact", headers=siti.headers,
                       json={"email": "Siti@Student.Example.AC.ID", "whatsapp": "0812-3456-7890", "language": "en"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["whatsapp"] == "+6281234567890" and saved.json()["email"] == "Siti@student.example.ac.id"
    for bad in ("12", "0812-ABCD-7890", "+99 123"):
        refused = client.put(f"{API}/me/contact", headers=siti.headers, json={"whatsapp": bad})
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert repr(bad) in refused.json()["detail"] and refused.json()["errors"][0]["loc"] == ["body", "whatsapp"]
    refused = client.put(f"{API}/me/contact", headers=siti.headers, json={"email": "not an address"})
    assert refused.status_code == 422 and "'not an address'" in refused.json()["detail"]
    kept = client.get(f"{API}/me/contact", headers=siti.headers).json()
    assert kept["whatsapp"] == "+6281234567890" and kept["language"] == "en"  # nothing of the refused changes
    cleared = client.put(f"{API}/me/contact", headers=siti.headers, json={"whatsapp": None}).json()
    assert cleared["whatsapp"] is None and cleared["email"] == "Siti@student.example.ac.id"


def test_contacts_are_seen_by_the_person_and_admins_only(client: TestClient, admin: Person,
                                                         make_person: Callable[..., Person]) -> None:
    siti = make_person(Role.STUDENT)
    head = make_person(Role.HEAD)
    client.put(f"{API}/me/contact", headers=siti.headers, json={"email": "siti@example.ac.id"})
    assert client.get(f"{API}/people/{siti.id}/contact", headers=admin.headers).json()["email"] == "siti@example.ac.id"
    assert client.get(f"{API}/people/{siti.id}/contact", headers=head.headers).status_code == 403
    changed = client.put(f"{API}/people/{siti.id}/contact", headers=admin.headers, json={"language": "en"})
    assert changed.json()["language"] == "en" and changed.json()["email"] == "siti@example.ac.id"
    audit = client.get(f"{API}/audit", headers=admin.headers, params={"action": "contact.update"}).json()
    assert [e["target_id"] for e in audit] == [siti.id]


def test_push_tokens_register_move_between_people_and_unregister(client: TestClient, database: Database,
                                                                 make_person: Callable[..., Person]) -> None:
    siti, budi = make_person(Role.STUDENT), make_person(Role.STUDENT)
    token = "fcm:APA91b-phone-of-the-lab-" + "x" * 100
    first = client.post(f"{API}/me/push-tokens", headers=siti.headers, json={"token": token})
    again = client.post(f"{API}/me/push-tokens", headers=siti.headers, json={"token": token, "platform": "android"})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert first.json()["token_end"] == token[-6:] and token not in first.text
    with database.session() as session:  # a push queued for Siti's phone...
        notify(session, topic="announcements", template="announcement", context={"title": "t", "body": "b",
                                                                                 "author": "a"},
               dedupe_key="n:1", people=[siti.id])
        session.commit()
    assert [m.status for m in _messages(database)] == ["queued"]
    moved = client.post(f"{API}/me/push-tokens", headers=budi.headers, json={"token": token})
    assert moved.status_code == 201
    assert client.get(f"{API}/me/push-tokens", headers=siti.headers).json() == []
    assert _messages(database) == []  # ...must not reach Budi, who signed in on that phone
    assert client.delete(f"{API}/me/push-tokens/{token}", headers=siti.headers).status_code == 404
    assert client.delete(f"{API}/me/push-tokens/{token}", headers=budi.headers).status_code == 204
    assert client.get(f"{API}/me/push-tokens", headers=budi.headers).json() == []


def test_preferences_turn_channels_off_per_topic(client: TestClient, database: Database,
                                                 make_person: Callable[..., Person]) -> None:
    siti = make_person(Role.STUDENT)
    client.put(f"{API}/me/contact", headers=siti.headers, json={"email": "siti@example.ac.id",
                                                                "whatsapp": "+6281234567890"})
    every = client.get(f"{API}/me/notification-preferences", headers=siti.headers).json()
    assert every["bookings"] == ["email", "push", "whatsapp"]
    chosen = client.put(f"{API}/me/notification-preferences", headers=siti.headers,
                        json={"bookings": ["whatsapp"], "attendance": []}).json()
    assert chosen["bookings"] == ["whatsapp"] and chosen["attendance"] == []
    assert chosen["announcements"] == ["email", "push", "whatsapp"]
    with database.session() as session:
        for topic in ("bookings", "attendance", "announcements"):
            notify(session, topic=topic, template="announcement", context={"title": "t", "body": "b", "author": "a"},
                   dedupe_key=f"pref:{topic}", people=[siti.id])
        session.commit()
    assert sorted((m.topic, m.channel) for m in _messages(database)) == [
        ("announcements", "email"), ("announcements", "whatsapp"), ("bookings", "whatsapp")]


def test_an_announcement_is_readable_by_the_people_it_was_for_and_a_retry_posts_it_once(
        client: TestClient, database: Database, admin: Person, make_person: Callable[..., Person]) -> None:
    head = make_person(Role.HEAD)
    student = make_person(Role.STUDENT)
    assistant = make_person(Role.ASSISTANT)
    lecturer = make_person(Role.LECTURER)
    client.put(f"{API}/me/contact", headers=student.headers, json={"email": "s@example.ac.id"})
    body = {"title": "Asisten: rapat Senin", "body": "Rapat asisten jam 10.", "audience": {"roles": ["assistant",
                                                                                                   "student"]}}
    posted = client.post(f"{API}/announcements", headers={**head.headers, "Idempotency-Key": "retry-1"}, json=body)
    again = client.post(f"{API}/announcements", headers={**head.headers, "Idempotency-Key": "retry-1"}, json=body)
    assert posted.status_code == again.status_code == 201 and posted.json() == again.json()
    announcement = posted.json()
    assert announcement["recipients"] == 2 and announcement["audience"] == {"roles": ["assistant", "student"]}
    assert len(_messages(database)) == 1  # the student's email, once
    for reader, sees in ((student, True), (assistant, True), (lecturer, False)):
        mine = client.get(f"{API}/announcements", headers=reader.headers).json()
        assert [a["id"] for a in mine["items"]] == ([announcement["id"]] if sees else [])
        one = client.get(f"{API}/announcements/{announcement['id']}", headers=reader.headers)
        assert one.status_code == (200 if sees else 404)
    assert client.get(f"{API}/announcements", headers=admin.headers, params={"all": True}).json()["total"] == 1
    assert client.get(f"{API}/announcements", headers=lecturer.headers, params={"all": True}).json()["total"] == 0
    assert client.post(f"{API}/announcements", headers=student.headers, json=body).status_code == 403
    unknown = client.post(f"{API}/announcements", headers=admin.headers,
                          json={**body, "audience": {"people": ["no-such-person"]}})
    assert unknown.status_code == 422 and "no-such-person" in unknown.json()["detail"]
    both = client.post(f"{API}/announcements", headers=admin.headers,
                       json={**body, "audience": {"everyone": True, "roles": ["student"]}})
    assert both.status_code == 422


def test_admins_see_dead_messages_with_their_last_error_and_send_them_again(
        client: TestClient, database: Database, admin: Person, make_person: Callable[..., Person]) -> None:
    siti = make_person(Role.STUDENT)
    client.put(f"{API}/me/contact", headers=siti.headers, json={"email": "siti@old.example.ac.id"})
    with database.session() as session:
        notify(session, topic="bookings", template="announcement", context={"title": "t", "body": "b", "author": "a"},
               dedupe_key="dead:1", people=[siti.id])
        session.commit()
        session.execute(update(Message).values(status="dead", attempts=8, last_error="the relay answered 451 (8 of 8)"))
        session.commit()
    dead = client.get(f"{API}/notifications/messages", headers=admin.headers, params={"status": "dead"}).json()
    assert dead["total"] == 1 and dead["items"][0]["last_error"] == "the relay answered 451 (8 of 8)"
    message_id = dead["items"][0]["id"]
    client.put(f"{API}/me/contact", headers=siti.headers, json={"email": "siti@new.example.ac.id"})
    again = client.post(f"{API}/notifications/messages/{message_id}:resend", headers=admin.headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "queued" and again.json()["attempts"] == 0
    assert again.json()["address"] == "siti@new.example.ac.id"  # the corrected address
    twice = client.post(f"{API}/notifications/messages/{message_id}:resend", headers=admin.headers)
    assert twice.status_code == 409 and "queued" in twice.json()["detail"]
    assert client.get(f"{API}/notifications/messages", headers=siti.headers).status_code == 403


def test_erasing_a_person_deletes_their_contacts_and_tokens_and_drops_their_queued_messages(
        client: TestClient, database: Database, admin: Person, make_person: Callable[..., Person]) -> None:
    siti, budi = make_person(Role.STUDENT), make_person(Role.STUDENT)
    for person, n in ((siti, 1), (budi, 2)):
        client.put(f"{API}/me/contact", headers=person.headers, json={"email": f"p{n}@example.ac.id",
                                                                      "whatsapp": f"+62812345678{n}0"})
        client.post(f"{API}/me/push-tokens", headers=person.headers, json={"token": f"token-of-person-{n}"})
    client.post(f"{API}/announcements", headers=admin.headers, json={
        "title": "t", "body": "b", "audience": {"people": [siti.id, budi.id]}})
    assert len(_messages(database)) == 6
    assert client.delete(f"{API}/people/{siti.id}", headers=admin.headers).status_code == 200
    with database.session() as session:
        assert session.get(Contact, siti.id) is None
        assert list(session.scalars(select(PushToken.person_id))) == [budi.id]
    assert {m.person_id for m in _messages(database)} == {budi.id} and len(_messages(database)) == 3
    erased = client.get(f"{API}/audit", headers=admin.headers, params={"action": "person.erase"}).json()
    assert erased[0]["detail"]["notifications_dropped"] == 3


def test_a_webhook_with_a_wrong_signature_is_refused_with_401_and_changes_nothing(
        client: TestClient, database: Database, make_person: Callable[..., Person]) -> None:
    siti = make_person(Role.STUDENT)
    client.put(f"{API}/me/contact", headers=siti.headers, json={"whatsapp": "+6281234567890"})
    with database.session() as session:
        notify(session, topic="bookings", template="announcement", context={"title": "t", "body": "b", "author": "a"},
               dedupe_key="wa:1", people=[siti.id])
        session.commit()
        session.execute(update(Message).values(status="sent", provider_id="wamid.ABC", sent_at=utcnow()))
        session.commit()
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.ABC", "status": "read", "timestamp": str(int(utcnow().timestamp()))}],
        "messages": [{"from": "6281234567890", "id": "wamid.in", "timestamp": "1764000000", "type": "text"}]}}]}]}
    raw = json.dumps(payload).encode()
    for header in ({}, {"X-Hub-Signature-256": signature("the wrong secret", raw)},
                   {"X-Hub-Signature-256": signature(WHATSAPP_APP_SECRET, raw + b" ")},
                   {"X-Hub-Signature-256": "sha256=zz"}):
        refused = client.post(WEBHOOK, content=raw, headers={"Content-Type": "application/json", **header})
        assert refused.status_code == 401, refused.text
    [row] = _messages(database)
    with database.session() as session:
        assert session.get(Contact, siti.id).whatsapp_inbound_at is None  # type: ignore[union-attr]
    assert row.delivery is None and row.read_at is None
    taken = client.post(WEBHOOK, content=raw, headers={"Content-Type": "application/json",
                                                       "X-Hub-Signature-256": signature(WHATSAPP_APP_SECRET, raw)})
    assert taken.status_code == 200 and taken.json() == {"statuses": 1, "messages": 1}
    [row] = _messages(database)
    assert row.delivery == "read" and row.read_at is not None and row.delivered_at is not None
    with database.session() as session:
        inbound = session.get(Contact, siti.id).whatsapp_inbound_at  # type: ignore[union-attr]
    assert inbound is not None and utcnow() - inbound < timedelta(days=400)


def test_the_webhook_answers_metas_subscription_challenge_only_with_the_verify_token(client: TestClient) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": WHATSAPP_VERIFY_TOKEN, "hub.challenge": "1158201444"}
    answered = client.get(WEBHOOK, params=query)
    assert answered.status_code == 200 and answered.text == "1158201444"
    assert client.get(WEBHOOK, params={**query, "hub.verify_token": "guess"}).status_code == 403
    assert client.get(WEBHOOK, params={**query, "hub.mode": "unsubscribe"}).status_code == 403


def test_metrics_count_requests_by_route_template_and_read_the_outbox_from_the_database(
        client: TestClient, database: Database, admin: Person, make_person: Callable[..., Person]) -> None:
    siti = make_person(Role.STUDENT)
    client.put(f"{API}/me/contact", headers=siti.headers, json={"email": "siti@example.ac.id"})
    with database.session() as session:
        notify(session, topic="bookings", template="announcement", context={"title": "t", "body": "b", "author": "a"},
               dedupe_key="m:1", people=[siti.id])
        session.commit()
    before = _samples(client.get("/metrics").text)
    for _ in range(3):
        client.get(f"{API}/people/{siti.id}", headers=admin.headers)
    client.get(f"{API}/people/no-such-person", headers=admin.headers)
    after = _samples(client.get("/metrics").text)
    route = ("labgate_http_requests_total", (("method", "GET"), ("route", "/api/v1/people/{person_id}"),
                                             ("status", "200")))
    missing = (route[0], (("method", "GET"), ("route", "/api/v1/people/{person_id}"), ("status", "404")))
    assert after[route] - before.get(route, 0) == 3 and after[missing] - before.get(missing, 0) == 1
    assert after[("labgate_notifications_messages", (("channel", "email"), ("status", "queued")))] == 1
    assert after[("labgate_notifications_messages", (("channel", "email"), ("status", "sent")))] == 0
    assert after[("labgate_notifications_oldest_queued_age_seconds", (("channel", "email"),))] >= 0
    latency = ("labgate_http_request_duration_seconds_count", (("method", "GET"),
                                                               ("route", "/api/v1/people/{person_id}")))
    assert after[latency] - before.get(latency, 0) == 4
    health = client.get("/health").json()
    assert health["channels"]["email"].startswith("off: set LABGATE_SMTP_HOST")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text)
            for s in family.samples}


def test_a_status_that_arrives_before_the_sender_recorded_whatsapps_id_finds_the_message_by_ours(
        client: TestClient, database: Database, make_person: Callable[..., Person]) -> None:
    siti = make_person(Role.STUDENT)
    client.put(f"{API}/me/contact", headers=siti.headers, json={"whatsapp": "+6281234567890"})
    with database.session() as session:
        notify(session, topic="bookings", template="announcement", context={"title": "t", "body": "b", "author": "a"},
               dedupe_key="wa:early", people=[siti.id])
        session.commit()
        session.execute(update(Message).values(status="sending", claim="a-sender"))  # sent; not yet settled
        session.commit()
    [row] = _messages(database)
    payload = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.NEW", "status": "delivered", "timestamp": "1764000000",
                      "biz_opaque_callback_data": row.id},
                     {"id": "wamid.NEW", "status": "failed", "timestamp": "1764000001",
                      "biz_opaque_callback_data": row.id, "errors": [{"code": 131026, "title": "Undeliverable"}]}],
    }}]}]}
    raw = json.dumps(payload).encode()
    taken = client.post(WEBHOOK, content=raw, headers={"Content-Type": "application/json",
                                                       "X-Hub-Signature-256": signature(WHATSAPP_APP_SECRET, raw)})
    assert taken.json() == {"statuses": 2, "messages": 0}
    [row] = _messages(database)
    assert row.delivery == "delivered" and row.status == "failed" and "131026" in (row.last_error or "")
    assert row.claim is None  # the sender that still holds it finds its claim gone and records nothing over it


def test_a_channel_without_settings_is_off_and_says_so_at_start_up_and_in_health(
        settings: Settings, database: Database, caplog: pytest.LogCaptureFixture) -> None:
    only_email = NotifySettings(smtp_host="127.0.0.1", smtp_port=1, whatsapp_access_token="half of WhatsApp's settings")
    caplog.set_level(logging.INFO, logger="labgate.notifications")
    with TestClient(create_app(settings, database, only_email)) as started:
        health = started.get("/health").json()
        assert started.app.state.sender is not None  # type: ignore[attr-defined]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=notify_channel ")]
    assert lines == ["event=notify_channel channel=email state='on'",
                     "event=notify_channel channel=push state='off: set LABGATE_FCM_CREDENTIALS (a service-account "
                     "key)'",
                     "event=notify_channel channel=whatsapp state='off: set LABGATE_WHATSAPP_PHONE_NUMBER_ID and "
                     "LABGATE_WHATSAPP_ACCESS_TOKEN'"]
    assert [r.levelname for r in caplog.records if r.getMessage().startswith("event=notify_channel ")] == [
        "INFO", "WARNING", "WARNING"]
    assert health["channels"] == {"email": "on", "push": lines[1].split("'")[1], "whatsapp": lines[2].split("'")[1]}
    with TestClient(create_app(settings, database, NotifySettings())) as nothing_on:
        assert set(nothing_on.get("/health").json()["channels"].values()) == {
            "off: set LABGATE_SMTP_HOST (and LABGATE_SMTP_FROM)", lines[1].split("'")[1], lines[2].split("'")[1]}
        assert nothing_on.app.state.sender is None  # type: ignore[attr-defined]  # no sender without a channel
