"""Reminder lead time: how many minutes before a booking starts each person gets its reminder
(``contacts.reminder_minutes``; 0 turns reminders off; 30 unless they chose).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('contacts', sa.Column('reminder_minutes', sa.Integer(), server_default='30', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('reminder_minutes')
