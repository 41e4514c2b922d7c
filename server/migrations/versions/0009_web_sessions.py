"""Web sessions: the browser sessions of the web pages (cookie token's sha256, role, CSRF secret).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'web_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=True),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('seen_at', WHEN, nullable=False),
        sa.Column('expires_at', WHEN, nullable=False),
        sa.Column('ended_at', WHEN, nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_web_sessions_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_sessions')),
    )
    op.create_index(op.f('ix_web_sessions_person_id'), 'web_sessions', ['person_id'], unique=False)
    op.create_index(op.f('ix_web_sessions_expires_at'), 'web_sessions', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_web_sessions_expires_at'), table_name='web_sessions')
    op.drop_index(op.f('ix_web_sessions_person_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
