"""Notifications over HTTP: one's own contact, push tokens and preferences; admins' view of contacts
and of the outbox (dead letters, resend); announcements; WhatsApp's webhook (no login: Meta signs it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from server.audit import service as audit
from server.auth.actor import Actor
from server.auth.dependencies import AnyRole, allow
from server.auth.roles import Role
from server.core.dependencies import SessionDep
from server.core.errors import Forbidden, Unauthenticated, Unavailable
from server.core.problems import documented
from server.notifications import announcements, claims, contacts, messages, webhook
from server.notifications.kinds import Channel, Status
from server.notifications.schemas import (
    AnnouncementIn,
    AnnouncementOut,
    AnnouncementsPage,
    ContactIn,
    ContactOut,
    MessageOut,
    MessagesPage,
    PreferencesIn,
    PreferencesOut,
    PushTokenIn,
    PushTokenOut,
    TokenText,
    WebhookIn,
    WebhookOut,
)
from server.notifications.settings import NotifySettings

router = APIRouter(tags=["notifications"])

Admin = Annotated[Actor, Depends(allow(Role.ADMIN))]
Announcers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD))]
PersonId = Annotated[str, Path(min_length=1, max_length=64, description="the person's server id")]
MessageId = Annotated[str, Path(min_length=1, max_length=64)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.notify_settings
    return settings


# --- one's own contact, push tokens and preferences ---------------------------------------------

@router.get("/me/contact", response_model=ContactOut)
def my_contact(actor: AnyRole, session: SessionDep) -> ContactOut:
    """Your email, WhatsApp number and the language of your messages."""
    return ContactOut.of(contacts.contact(session, actor.person_id))


@router.put("/me/contact", response_model=ContactOut)
def set_my_contact(body: ContactIn, actor: AnyRole, session: SessionDep) -> ContactOut:
    """Change your email, WhatsApp number (any common form; stored in E.164) or language; a number
    that cannot be read is refused with 422 naming it."""
    return ContactOut.of(contacts.set_contact(session, actor.person_id, body.model_dump(exclude_unset=True)))


@router.get("/me/push-tokens", response_model=list[PushTokenOut])
def my_push_tokens(actor: AnyRole, session: SessionDep) -> list[PushTokenOut]:
    return [PushTokenOut.of(t) for t in contacts.tokens(session, actor.person_id)]


@router.post("/me/push-tokens", response_model=PushTokenOut, status_code=status.HTTP_201_CREATED)
def register_push_token(body: PushTokenIn, actor: AnyRole, session: SessionDep) -> PushTokenOut:
    """Register this phone's FCM token (the app does this after sign-in and when FCM renews it).
    Registering it again is harmless; a token another person registered moves to you."""
    row, _created = contacts.register_token(session, actor.person_id, body.token, body.platform)
    return PushTokenOut.of(row)


@router.delete("/me/push-tokens/{token}", status_code=status.HTTP_204_NO_CONTENT)
def unregister_push_token(token: Annotated[TokenText, Path()], actor: AnyRole, session: SessionDep) -> None:
    """Unregister this phone's token (at sign-out); pushes still queued for it are dropped."""
    contacts.unregister_token(session, actor.person_id, token)


@router.get("/me/notification-preferences", response_model=PreferencesOut)
def my_preferences(actor: AnyRole, session: SessionDep) -> PreferencesOut:
    """Per topic, the channels you get it by (all of them unless you turned some off)."""
    return _preferences(session, actor.person_id)


@router.put("/me/notification-preferences", response_model=PreferencesOut)
def set_my_preferences(body: PreferencesIn, actor: AnyRole, session: SessionDep) -> PreferencesOut:
    """For each topic given, exactly the channels listed ([] turns the topic off)."""
    contacts.set_preferences(session, actor.person_id, body.chosen())
    return _preferences(session, actor.person_id)


def _preferences(session: SessionDep, person_id: str) -> PreferencesOut:
    chosen = contacts.preferences(session, person_id)
    return PreferencesOut(**{topic.value: [c for c, on in by_channel.items() if on]
                             for topic, by_channel in chosen.items()})


# --- admins: anyone's contact, the outbox ---------------------------------------------------------

@router.get("/people/{person_id}/contact", response_model=ContactOut)
def person_contact(person_id: PersonId, _: Admin, session: SessionDep) -> ContactOut:
    return ContactOut.of(contacts.contact(session, person_id))


@router.put("/people/{person_id}/contact", response_model=ContactOut)
def set_person_contact(person_id: PersonId, body: ContactIn, actor: Admin, session: SessionDep) -> ContactOut:
    changes = body.model_dump(exclude_unset=True)
    audit.record(session, actor, "contact.update", "person", person_id, fields=sorted(changes))
    return ContactOut.of(contacts.set_contact(session, person_id, changes))


@router.get("/notifications/messages", response_model=MessagesPage)
def list_messages(_: Admin, session: SessionDep, status: Status | None = None, channel: Channel | None = None,
                  person_id: Annotated[str | None, Query(max_length=64)] = None, offset: Offset = 0,
                  limit: Limit = 50) -> MessagesPage:
    """Outbox messages, most recently changed first; ``status=dead`` lists those that gave up, each
    with its last error."""
    rows, total = messages.page(session, status, channel, person_id, offset, limit)
    return MessagesPage(items=[MessageOut.of(m) for m in rows], total=total, offset=offset, limit=limit)


@router.get("/notifications/messages/{message_id}", response_model=MessageOut)
def get_message(message_id: MessageId, _: Admin, session: SessionDep) -> MessageOut:
    return MessageOut.of(messages.get(session, message_id))


@router.post("/notifications/messages/{message_id}:resend", response_model=MessageOut)
def resend_message(message_id: MessageId, actor: Admin, session: SessionDep) -> MessageOut:
    """Queue a dead or failed message again with fresh attempts (to the person's current email or
    number); 409 for one that is queued, being sent or sent."""
    return MessageOut.of(claims.resend_by(session, actor, message_id))


# --- announcements --------------------------------------------------------------------------------

@router.post("/announcements", response_model=AnnouncementOut, status_code=status.HTTP_201_CREATED)
def post_announcement(
    body: AnnouncementIn, actor: Announcers, session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$",
                                                  description="repeat it on a retry: the announcement is "
                                                              "posted and sent once")] = None,
) -> AnnouncementOut:
    """Announce to everyone, some roles, or some people; each gets it by the channels they chose, and
    can read it at GET /announcements. A retry with the same Idempotency-Key answers with the first
    announcement and sends nothing again."""
    row, _created, _queued = announcements.post(session, actor, body, idempotency_key)
    return AnnouncementOut.of(row)


@router.get("/announcements", response_model=AnnouncementsPage)
def list_announcements(
    actor: AnyRole, session: SessionDep, offset: Offset = 0, limit: Limit = 50,
    everything: Annotated[bool, Query(alias="all", description="admin and head: every announcement, not only "
                                                               "those for you")] = False,
) -> AnnouncementsPage:
    """The announcements that were for you, newest first."""
    rows, total = announcements.visible(session, actor, everything, offset, limit)
    return AnnouncementsPage(items=[AnnouncementOut.of(a) for a in rows], total=total, offset=offset, limit=limit)


@router.get("/announcements/{announcement_id}", response_model=AnnouncementOut)
def get_announcement(announcement_id: Annotated[str, Path(min_length=1, max_length=64)], actor: AnyRole,
                     session: SessionDep) -> AnnouncementOut:
    return AnnouncementOut.of(announcements.get(session, actor, announcement_id))


# --- WhatsApp's webhook ---------------------------------------------------------------------------

@router.get("/notifications/whatsapp/webhook", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "the challenge, echoed"}, **documented(403, 503)})
def whatsapp_subscribe(
    request: Request,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=50)] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token", max_length=500)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=500)] = None,
) -> PlainTextResponse:
    """Meta's subscription check: echo ``hub.challenge`` when ``hub.verify_token`` is ours."""
    verify = _settings(request).whatsapp_verify_token
    if verify is None:
        raise Unavailable("the WhatsApp webhook is off: set LABGATE_WHATSAPP_VERIFY_TOKEN")
    answer = webhook.challenge_answer(verify.get_secret_value(), mode, token, challenge)
    if answer is None:
        raise Forbidden("hub.mode must be subscribe and hub.verify_token must match LABGATE_WHATSAPP_VERIFY_TOKEN")
    return PlainTextResponse(answer)


async def _signed(request: Request, x_hub_signature_256: Annotated[str | None, Header(
        description="sha256=<hex HMAC-SHA256 of the raw body with the app secret>")] = None) -> None:
    """The webhook's credential: Meta's signature of the exact bytes of the body."""
    secret = _settings(request).whatsapp_app_secret
    if secret is None:
        raise Unavailable("the WhatsApp webhook is off: set LABGATE_WHATSAPP_APP_SECRET")
    if not webhook.signed(secret.get_secret_value(), await request.body(), x_hub_signature_256):
        raise Unauthenticated("the X-Hub-Signature-256 header is missing or does not match the body: only Meta, "
                              "signing with the app secret, may call this")


@router.post("/notifications/whatsapp/webhook", response_model=WebhookOut, responses=documented(401, 503),
             dependencies=[Depends(_signed)])
async def whatsapp_webhook(body: WebhookIn, session: SessionDep) -> WebhookOut:
    """Delivery statuses of our messages and people's messages to us, from WhatsApp. Without a valid
    signature: 401, and nothing changes."""
    applied = await run_in_threadpool(webhook.apply, session, {"entry": body.entry})
    return WebhookOut(statuses=applied.statuses, messages=applied.messages)
