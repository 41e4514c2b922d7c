"""Recruitment: vacancies and their lecturers, applications (one per student per vacancy), their
documents and history, assistantships, assistants' attendance, certificates; and the attachments of
notification emails.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def _id(name: str = 'id') -> sa.Column[str]:
    return sa.Column(name, sa.String(length=36), nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'),
                                   ondelete='CASCADE')


def upgrade() -> None:
    op.create_table(
        'vacancies',
        _id(),
        sa.Column('course_code', sa.String(length=20), nullable=False),
        sa.Column('course_name', sa.String(length=200), nullable=False),
        sa.Column('period', sa.String(length=20), nullable=False),
        sa.Column('quota', sa.Integer(), nullable=False),
        sa.Column('accepted', sa.Integer(), nullable=False),
        sa.Column('opens_at', WHEN, nullable=False),
        sa.Column('closes_at', WHEN, nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('closed_reason', sa.String(length=20), nullable=True),
        sa.Column('min_ipk', sa.Float(), nullable=True),
        sa.Column('min_semester', sa.Integer(), nullable=True),
        sa.Column('course_requirements', sa.JSON(), nullable=False),
        sa.Column('required_documents', sa.JSON(), nullable=False),
        sa.Column('grade_scale', sa.JSON(), nullable=False),
        sa.Column('pamphlet_key', sa.String(length=200), nullable=True),
        sa.Column('pamphlet_type', sa.String(length=40), nullable=True),
        sa.Column('created_by', sa.String(length=36), nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.CheckConstraint('accepted >= 0 AND accepted <= quota', name=op.f('ck_vacancies_quota')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vacancies')),
    )
    op.create_index(op.f('ix_vacancies_course_code'), 'vacancies', ['course_code'], unique=False)

    op.create_table(
        'vacancy_lecturers',
        _id('vacancy_id'),
        _id('person_id'),
        _fk('vacancy_lecturers', 'vacancy_id', 'vacancies'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_vacancy_lecturers_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('vacancy_id', 'person_id', name=op.f('pk_vacancy_lecturers')),
    )
    op.create_index(op.f('ix_vacancy_lecturers_person_id'), 'vacancy_lecturers', ['person_id'], unique=False)

    op.create_table(
        'applications',
        _id(),
        _id('vacancy_id'),
        _id('person_id'),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('whatsapp', sa.String(length=20), nullable=False),
        sa.Column('semester', sa.Integer(), nullable=False),
        sa.Column('declared_ipk', sa.Float(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('outcome', sa.String(length=14), nullable=True),
        sa.Column('findings', sa.JSON(), nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        _fk('applications', 'vacancy_id', 'vacancies'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_applications_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
        sa.UniqueConstraint('vacancy_id', 'person_id', name='uq_applications_vacancy_person'),
    )
    op.create_index(op.f('ix_applications_vacancy_id'), 'applications', ['vacancy_id'], unique=False)
    op.create_index(op.f('ix_applications_person_id'), 'applications', ['person_id'], unique=False)

    op.create_table(
        'application_documents',
        _id(),
        _id('application_id'),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('media_type', sa.String(length=40), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=200), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        _fk('application_documents', 'application_id', 'applications'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_application_documents')),
        sa.UniqueConstraint('application_id', 'kind', name='uq_application_documents_kind'),
    )
    op.create_index(op.f('ix_application_documents_application_id'), 'application_documents', ['application_id'],
                    unique=False)

    op.create_table(
        'application_history',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        _id('application_id'),
        sa.Column('from_state', sa.String(length=12), nullable=True),
        sa.Column('to_state', sa.String(length=12), nullable=False),
        sa.Column('by', sa.String(length=36), nullable=True),
        sa.Column('at', WHEN, nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        _fk('application_history', 'application_id', 'applications'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_application_history')),
    )
    op.create_index(op.f('ix_application_history_application_id'), 'application_history', ['application_id'],
                    unique=False)

    op.create_table(
        'assistantships',
        _id(),
        _id('application_id'),
        _id('vacancy_id'),
        _id('person_id'),
        sa.Column('period', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('activated_at', WHEN, nullable=False),
        sa.Column('activated_by', sa.String(length=36), nullable=True),
        sa.Column('ended_at', WHEN, nullable=True),
        sa.Column('ended_by', sa.String(length=36), nullable=True),
        sa.Column('end_reason', sa.Text(), nullable=True),
        _fk('assistantships', 'application_id', 'applications'),
        _fk('assistantships', 'vacancy_id', 'vacancies'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_assistantships_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_assistantships')),
        sa.UniqueConstraint('application_id', name=op.f('uq_assistantships_application_id')),
    )
    op.create_index(op.f('ix_assistantships_vacancy_id'), 'assistantships', ['vacancy_id'], unique=False)
    op.create_index(op.f('ix_assistantships_person_id'), 'assistantships', ['person_id'], unique=False)

    op.create_table(
        'assistant_attendance',
        _id(),
        _id('assistantship_id'),
        sa.Column('room', sa.String(length=40), nullable=False),
        sa.Column('starts_at', WHEN, nullable=False),
        sa.Column('ends_at', WHEN, nullable=False),
        sa.Column('source', sa.String(length=8), nullable=False),
        sa.Column('photo_key', sa.String(length=200), nullable=True),
        sa.Column('photo_sha256', sa.String(length=64), nullable=True),
        sa.Column('face_score', sa.Float(), nullable=True),
        sa.Column('kiosk_event_id', sa.String(length=36), nullable=True),
        sa.Column('confirmed_by', sa.String(length=36), nullable=True),
        sa.Column('confirmed_at', WHEN, nullable=True),
        sa.Column('recorded_at', WHEN, nullable=False),
        _fk('assistant_attendance', 'assistantship_id', 'assistantships'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_attendance')),
        sa.UniqueConstraint('assistantship_id', 'starts_at', name='uq_assistant_attendance_session'),
    )
    op.create_index(op.f('ix_assistant_attendance_assistantship_id'), 'assistant_attendance', ['assistantship_id'],
                    unique=False)

    op.create_table(
        'certificates',
        _id(),
        sa.Column('number', sa.String(length=40), nullable=False),
        _id('assistantship_id'),
        _id('person_id'),
        sa.Column('person_name', sa.String(length=200), nullable=False),
        sa.Column('course', sa.String(length=220), nullable=False),
        sa.Column('period', sa.String(length=20), nullable=False),
        sa.Column('sessions', sa.Integer(), nullable=False),
        sa.Column('signatory', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=200), nullable=False),
        sa.Column('issued_at', WHEN, nullable=False),
        sa.Column('issued_by', sa.String(length=36), nullable=True),
        _fk('certificates', 'assistantship_id', 'assistantships'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_certificates_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
        sa.UniqueConstraint('number', name=op.f('uq_certificates_number')),
        sa.UniqueConstraint('assistantship_id', name=op.f('uq_certificates_assistantship_id')),
    )
    op.create_index(op.f('ix_certificates_person_id'), 'certificates', ['person_id'], unique=False)

    op.create_table(
        'notification_attachments',
        sa.Column('notification_key', sa.String(length=200), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('media_type', sa.String(length=100), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('notification_key', 'filename', name=op.f('pk_notification_attachments')),
    )


def downgrade() -> None:
    for table in ('notification_attachments', 'certificates', 'assistant_attendance', 'assistantships',
                  'application_history', 'application_documents', 'applications', 'vacancy_lecturers', 'vacancies'):
        op.drop_table(table)
