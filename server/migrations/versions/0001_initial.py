"""The first schema: people, auth, devices, presence, faces, audit and the feed journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.String(length=36), nullable=True),
        sa.Column('actor_number', sa.String(length=40), nullable=True),
        sa.Column('actor_role', sa.String(length=16), nullable=True),
        sa.Column('action', sa.String(length=48), nullable=False),
        sa.Column('target_type', sa.String(length=24), nullable=False),
        sa.Column('target_id', sa.String(length=64), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_action', 'audit_log', ['action'])
    op.create_index('ix_audit_log_actor_id', 'audit_log', ['actor_id'])
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])

    op.create_table(
        'devices',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('room', sa.String(length=64), nullable=False),
        sa.Column('model_id', sa.String(length=200), nullable=True),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=36), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_seen_from', sa.String(length=64), nullable=True),
        sa.Column('acked_seq', sa.BigInteger(), nullable=False),
        sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_devices'))
    )
    op.create_table(
        'feed_changes',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('ref', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_feed_changes'))
    )
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    op.create_index('ix_login_failures_at', 'login_failures', ['at'])
    op.create_index('ix_login_failures_client', 'login_failures', ['client'])
    op.create_index('ix_login_failures_number', 'login_failures', ['number'])

    op.create_table(
        'people',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('pin_hash', sa.String(length=200), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
        sa.UniqueConstraint('number', name=op.f('uq_people_number'))
    )
    op.create_table(
        'server_keys',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_server_keys'))
    )
    op.create_table(
        'tombstones',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('erased_by', sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tombstones'))
    )
    op.create_index('ix_tombstones_number', 'tombstones', ['number'])

    op.create_table(
        'attendance_corrections',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('present', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('corrected_by', sa.String(length=36), nullable=True),
        sa.Column('corrected_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_attendance_corrections_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_corrections'))
    )
    op.create_index('ix_attendance_corrections_day', 'attendance_corrections', ['day'])
    op.create_index('ix_attendance_corrections_person_id', 'attendance_corrections', ['person_id'])

    op.create_table(
        'consents',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('recorded_by', sa.String(length=36), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_consents_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    op.create_index('ix_consents_person_id', 'consents', ['person_id'])

    op.create_table(
        'credentials',
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_credentials_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('person_id', name=op.f('pk_credentials'))
    )
    op.create_table(
        'device_commands',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=36), nullable=True),
        sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ok', sa.Boolean(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ['device_id'], ['devices.id'],
            name=op.f('fk_device_commands_device_id_devices'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_device_commands'))
    )
    op.create_index('ix_device_commands_device_id', 'device_commands', ['device_id'])

    op.create_table(
        'event_conflicts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('content', sa.JSON(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['device_id'], ['devices.id'],
            name=op.f('fk_event_conflicts_device_id_devices'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_conflicts'))
    )
    op.create_index('ix_event_conflicts_device_id', 'event_conflicts', ['device_id'])

    op.create_table(
        'events',
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('person_number', sa.String(length=40), nullable=True),
        sa.Column('number_known', sa.Boolean(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('margin', sa.Float(), nullable=True),
        sa.Column('model_id', sa.String(length=200), nullable=True),
        sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('clock_suspect', sa.Boolean(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['device_id'], ['devices.id'],
            name=op.f('fk_events_device_id_devices'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('device_id', 'event_id', name=op.f('pk_events'))
    )
    op.create_index('ix_events_captured_at', 'events', ['captured_at'])
    op.create_index('ix_events_device_seq', 'events', ['device_id', 'seq'])
    op.create_index('ix_events_person_captured', 'events', ['person_number', 'captured_at'])

    op.create_table(
        'ingest_batches',
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('idempotency_key', sa.String(length=128), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('response', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['device_id'], ['devices.id'],
            name=op.f('fk_ingest_batches_device_id_devices'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('device_id', 'idempotency_key', name=op.f('pk_ingest_batches'))
    )
    op.create_index('ix_ingest_batches_created_at', 'ingest_batches', ['created_at'])

    op.create_table(
        'person_roles',
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_person_roles_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('person_id', 'role', name=op.f('pk_person_roles'))
    )
    op.create_table(
        'refresh_tokens',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('family_id', sa.String(length=36), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_refresh_tokens_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_tokens_token_hash'))
    )
    op.create_index('ix_refresh_tokens_family_id', 'refresh_tokens', ['family_id'])
    op.create_index('ix_refresh_tokens_person_id', 'refresh_tokens', ['person_id'])

    op.create_table(
        'templates',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('model_id', sa.String(length=200), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.Column('quality', sa.Float(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('photo_path', sa.String(length=300), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_templates_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_templates'))
    )
    op.create_index('ix_templates_model_id', 'templates', ['model_id'])
    op.create_index('ix_templates_person_id', 'templates', ['person_id'])


def downgrade() -> None:
    op.drop_table('templates')
    op.drop_table('refresh_tokens')
    op.drop_table('person_roles')
    op.drop_table('ingest_batches')
    op.drop_table('events')
    op.drop_table('event_conflicts')
    op.drop_table('device_commands')
    op.drop_table('credentials')
    op.drop_table('consents')
    op.drop_table('attendance_corrections')
    op.drop_table('tombstones')
    op.drop_table('server_keys')
    op.drop_table('people')
    op.drop_table('login_failures')
    op.drop_table('feed_changes')
    op.drop_table('devices')
    op.drop_table('audit_log')
