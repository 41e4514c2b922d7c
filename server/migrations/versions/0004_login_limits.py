"""Failed logins are counted per number and address, per number from unknown addresses and per address
for unknown numbers, each in one row updated atomically before the password is checked
(``login_limits``), and the addresses a number signed in from are remembered (``login_known``). The
old table of failures, read before the check and written after it, goes (its rows are only minutes
of history).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'login_limits',
        sa.Column('key', sa.String(length=160), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_at', sa.BigInteger(), nullable=False),
        sa.Column('blocked_until', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_limits')),
    )
    op.create_index('ix_login_limits_last_at', 'login_limits', ['last_at'])
    op.create_table(
        'login_known',
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('number', 'client', name=op.f('pk_login_known')),
    )
    op.drop_index('ix_login_failures_number', table_name='login_failures')
    op.drop_index('ix_login_failures_client', table_name='login_failures')
    op.drop_index('ix_login_failures_at', table_name='login_failures')
    op.drop_table('login_failures')


def downgrade() -> None:
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    )
    op.create_index('ix_login_failures_at', 'login_failures', ['at'])
    op.create_index('ix_login_failures_client', 'login_failures', ['client'])
    op.create_index('ix_login_failures_number', 'login_failures', ['number'])
    op.drop_table('login_known')
    op.drop_index('ix_login_limits_last_at', table_name='login_limits')
    op.drop_table('login_limits')
