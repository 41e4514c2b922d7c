"""Acceptance 1: messages go out through real local peers that speak each provider's protocol, sent by
the sender a real server runs in its lifespan: an SMTP relay (MIME read back), FCM v1 with its OAuth2
token exchange (the assertion verified with the key's public half), the WhatsApp Cloud API with
signed webhook statuses coming back."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from server.auth.roles import Role
from server.core.database import Database
from server.notifications.kinds import Channel, Language, Topic
from server.notifications.outbox import notify
from server.notifications.tables import Contact, PushToken
from tests.peers.smtp import SmtpPeer
from tests.server.notifications.conftest import Live, Peers, outbox, settled, wait_until

TITLE = "Lab tutup Jumat — perawatan AC ❄"
BODY = "Praktikum dipindah ke LAB-2.\n\nTerima kasih atas pengertiannya."


def _queue(database: Database, key: str, people: list[str], topic: Topic = Topic.ANNOUNCEMENTS) -> None:
    with database.session() as session:
        notify(session, topic=topic, template="announcement", context={"title": TITLE, "body": BODY,
                                                                       "author": "Kepala Lab"},
               dedupe_key=key, people=people)
        session.commit()


def _parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): str(part.get_content()) for part in message.iter_parts()}


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_announcement_reaches_each_person_by_email_in_their_language(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str], tmp_path: Path,
        security: str) -> None:
    (tmp_path / "tls").mkdir()
    relay = peers.smtp if security == "starttls" else SmtpPeer(tmp_path / "tls", security="tls").start()
    try:
        admin = add_person("1970000001", Role.ADMIN)
        siti = add_person("2201000001", email="siti@student.example.ac.id", language=Language.ID,
                          name="Siti Nurhaliza")
        jane = add_person("2201000002", email="jane@student.example.ac.id", language=Language.EN, name="Jane Doe")
        server = live(**relay.settings(), smtp_timeout=1.0)
        posted = server.http.post("/api/v1/announcements", headers=server.login("1970000001"), json={
            "title": TITLE, "body": BODY, "audience": {"people": [siti, jane, admin]}})
        assert posted.status_code == 201, posted.text
        wait_until(lambda: len(relay.received) == 2, what="two emails at the relay")
        wait_until(lambda: settled(database), what="the outbox settling")
    finally:
        if relay is not peers.smtp:
            relay.stop()
    mails = {str(m["To"]): m for m in relay.messages()}
    assert set(mails) == {"siti@student.example.ac.id", "jane@student.example.ac.id"}
    subjects = [raw.split(b"\r\nFrom:")[0] for raw in relay.received]
    assert all(s.startswith(b"Subject: ") and b"=?utf-8?" in s for s in subjects)  # RFC 2047, UTF-8
    indonesian, english = mails["siti@student.example.ac.id"], mails["jane@student.example.ac.id"]
    assert indonesian["Subject"] == f"Pengumuman: {TITLE}" and english["Subject"] == f"Announcement: {TITLE}"
    assert indonesian["Content-Language"] == "id" and english["Content-Language"] == "en"
    for mail, greeting in ((indonesian, "Halo Siti Nurhaliza"), (english, "Hello Jane Doe")):
        assert mail.get_content_type() == "multipart/alternative"
        assert [p.get_content_charset() for p in mail.iter_parts()] == ["utf-8", "utf-8"]
        parts = _parts(mail)
        assert set(parts) == {"text/plain", "text/html"}
        assert greeting in parts["text/plain"] and TITLE in parts["text/plain"]
        assert f"<h2>{TITLE}</h2>" in parts["text/html"] and greeting in parts["text/html"]
    assert relay.envelopes[0][0] == "labgate@lab.example.ac.id"
    assert relay.logins and all(entry.endswith(":ok") for entry in relay.logins)
    rows = outbox(database)
    assert [(r.channel, r.status) for r in rows] == [("email", "sent")] * 2
    assert all("queued as LOCAL" in (r.provider_id or "") for r in rows)


def test_push_goes_through_fcm_v1_with_one_verified_token_exchange(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str]) -> None:
    siti = add_person("2201000001", tokens=("phone-one-token", "phone-two-token"))
    live()
    for n in range(3):
        _queue(database, f"push:{n}", [siti])
    wait_until(lambda: settled(database), what="the outbox settling")
    rows = outbox(database)
    assert len(rows) == 6 and {r.status for r in rows} == {"sent"}
    assert all(r.provider_id and r.provider_id.startswith("projects/labgate-test/messages/") for r in rows)
    assert peers.fcm.ledger.exactly_once_apart_from_lost({r.id for r in rows}) == {}
    assert peers.fcm.exchanges == 1 and peers.fcm.refused_assertions == []  # the token was kept, not re-fetched
    sent = peers.fcm.messages[0]
    assert sent["notification"]["title"] == f"Pengumuman: {TITLE}"
    assert sent["data"]["topic"] == "announcements" and sent["data"]["message_id"] in {r.id for r in rows}


def test_a_key_that_is_not_the_service_accounts_is_refused_at_the_token_exchange(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str],
        tmp_path: Path) -> None:
    import json

    from tests.peers.fcm import FcmPeer

    stranger = FcmPeer()  # another key pair, same token_uri and client: the peer must refuse its assertion
    forged = {**stranger.key, "token_uri": peers.fcm.token_uri, "client_email": peers.fcm.key["client_email"]}
    key_file = tmp_path / "forged.json"
    key_file.write_text(json.dumps(forged))
    stranger.server.server_close()
    siti = add_person("2201000001", tokens=("phone-one-token",))
    live(fcm_credentials=key_file, notify_max_attempts=2)
    _queue(database, "push:forged", [siti])
    wait_until(lambda: settled(database), what="the outbox settling")
    [row] = outbox(database)
    assert row.status == "dead" and "access token" in (row.last_error or "")
    assert peers.fcm.exchanges == 0 and len(peers.fcm.refused_assertions) == 2
    assert "Signature verification failed" in peers.fcm.refused_assertions[0]
    assert peers.fcm.messages == []


def test_fcm_unregistered_token_is_forgotten_and_invalid_argument_fails_without_retry(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str]) -> None:
    peers.fcm.unregistered.add("uninstalled-app-token")
    peers.fcm.invalid.add("malformed-token")
    siti = add_person("2201000001", tokens=("uninstalled-app-token", "malformed-token", "good-token"))
    _queue(database, "push:1", [siti])
    _queue(database, "push:2", [siti])
    live()
    wait_until(lambda: settled(database), what="the outbox settling")
    by_token: dict[str, list[str]] = {}
    for row in outbox(database):
        by_token.setdefault(row.address, []).append(row.status)
        if row.address != "good-token":
            assert row.attempts <= 1 and row.last_error
    assert by_token == {"uninstalled-app-token": ["failed", "failed"], "malformed-token": ["failed", "failed"],
                        "good-token": ["sent", "sent"]}
    with database.session() as session:
        left = sorted(session.scalars(select(PushToken.token)))
    assert left == ["good-token", "malformed-token"]  # the unregistered one is gone, the others stay
    assert peers.fcm.ledger.requests and len(peers.fcm.ledger.requests) <= 6  # no retries of permanent errors


def test_whatsapp_sends_the_template_outside_the_window_and_text_inside_it_and_records_delivery(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str]) -> None:
    siti = add_person("2201000001", whatsapp="0812-3456-7890", language=Language.EN)
    live()
    _queue(database, "wa:1", [siti])
    wait_until(lambda: settled(database), what="the first message sent")
    peers.whatsapp.wait_for_webhooks()
    wait_until(lambda: outbox(database)[0].delivery == "read", what="the read status from the webhook")
    first = outbox(database)[0]
    assert first.provider_id and first.provider_id.startswith("wamid.") and first.read_at and first.delivered_at
    template = peers.whatsapp.messages[0]
    assert template["type"] == "template" and template["to"] == "6281234567890"
    assert template["template"]["name"] == "labgate_notice" and template["template"]["language"] == {"code": "en"}
    parameters = template["template"]["components"][0]["parameters"]
    assert parameters[0]["text"] == f"Announcement: {TITLE}" and TITLE in parameters[1]["text"]

    peers.whatsapp.inbound("+6281234567890", "Hi, is the lab open?")  # Siti writes: her 24-hour window opens
    peers.whatsapp.wait_for_webhooks()
    with database.session() as session:
        assert session.get(Contact, siti).whatsapp_inbound_at is not None  # type: ignore[union-attr]
    _queue(database, "wa:2", [siti])
    wait_until(lambda: len(peers.whatsapp.messages) == 2, what="the second message at the peer")
    text = peers.whatsapp.messages[1]
    assert text["type"] == "text" and "Hello Person 2201000001" in text["text"]["body"]
    peers.whatsapp.wait_for_webhooks()
    assert set(peers.whatsapp.webhook_answers) == {200}


def test_whatsapp_131026_fails_the_message_without_retry(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str]) -> None:
    peers.whatsapp.undeliverable.add("6281299998888")
    siti = add_person("2201000001", whatsapp="+62 812-9999-8888")
    live()
    _queue(database, "wa:1", [siti])
    wait_until(lambda: settled(database), what="the outbox settling")
    [row] = outbox(database)
    assert row.channel == Channel.WHATSAPP.value and row.status == "failed" and row.attempts == 1
    assert "131026" in (row.last_error or "")
    assert len(peers.whatsapp.ledger.requests) == 1
