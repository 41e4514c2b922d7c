"""Notifications: contacts, push tokens and channel preferences; the outbox of messages; announcements
and the people each was for.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def _person(column: str = 'person_id', primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(column, sa.String(length=36), nullable=False, primary_key=primary_key)


def upgrade() -> None:
    op.create_table(
        'contacts',
        _person(),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('whatsapp', sa.String(length=20), nullable=True),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('whatsapp_inbound_at', WHEN, nullable=True),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_contacts_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('person_id', name=op.f('pk_contacts')),
    )
    op.create_index(op.f('ix_contacts_whatsapp'), 'contacts', ['whatsapp'], unique=False)

    op.create_table(
        'push_tokens',
        sa.Column('id', sa.String(length=36), nullable=False),
        _person(),
        sa.Column('token', sa.String(length=512), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('seen_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_push_tokens_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_push_tokens')),
        sa.UniqueConstraint('token', name=op.f('uq_push_tokens_token')),
    )
    op.create_index(op.f('ix_push_tokens_person_id'), 'push_tokens', ['person_id'], unique=False)

    op.create_table(
        'notification_preferences',
        _person(),
        sa.Column('topic', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'],
                                name=op.f('fk_notification_preferences_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('person_id', 'topic', 'channel', name=op.f('pk_notification_preferences')),
    )

    op.create_table(
        'notification_messages',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('notification_key', sa.String(length=200), nullable=False),
        _person(),
        sa.Column('topic', sa.String(length=16), nullable=False),
        sa.Column('template', sa.String(length=100), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('address', sa.String(length=512), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('body_text', sa.Text(), nullable=False),
        sa.Column('body_html', sa.Text(), nullable=False),
        sa.Column('short', sa.Text(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', WHEN, nullable=False),
        sa.Column('claim', sa.String(length=36), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('provider_id', sa.String(length=300), nullable=True),
        sa.Column('delivery', sa.String(length=10), nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.Column('sent_at', WHEN, nullable=True),
        sa.Column('delivered_at', WHEN, nullable=True),
        sa.Column('read_at', WHEN, nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'],
                                name=op.f('fk_notification_messages_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_messages')),
        sa.UniqueConstraint('key', name=op.f('uq_notification_messages_key')),
    )
    op.create_index('ix_notification_messages_due', 'notification_messages',
                    ['channel', 'status', 'next_attempt_at'], unique=False)
    for column in ('notification_key', 'person_id', 'provider_id'):
        op.create_index(op.f(f'ix_notification_messages_{column}'), 'notification_messages', [column], unique=False)

    op.create_table(
        'announcements',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('audience', sa.JSON(), nullable=False),
        sa.Column('author_id', sa.String(length=36), nullable=True),
        sa.Column('author_name', sa.String(length=200), nullable=False),
        sa.Column('idempotency_key', sa.String(length=300), nullable=True),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['people.id'], name=op.f('fk_announcements_author_id_people'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_announcements_idempotency_key')),
    )
    op.create_index(op.f('ix_announcements_author_id'), 'announcements', ['author_id'], unique=False)

    op.create_table(
        'announcement_recipients',
        sa.Column('announcement_id', sa.String(length=36), nullable=False),
        _person(),
        sa.ForeignKeyConstraint(['announcement_id'], ['announcements.id'],
                                name=op.f('fk_announcement_recipients_announcement_id_announcements'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'],
                                name=op.f('fk_announcement_recipients_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('announcement_id', 'person_id', name=op.f('pk_announcement_recipients')),
    )
    op.create_index(op.f('ix_announcement_recipients_person_id'), 'announcement_recipients', ['person_id'],
                    unique=False)


def downgrade() -> None:
    for table in ('announcement_recipients', 'announcements', 'notification_messages', 'notification_preferences',
                  'push_tokens', 'contacts'):
        op.drop_table(table)
