"""A kiosk's sequence received without a gap: ``devices.seq_contiguous``, the highest seq up to which
every seq has arrived (0: none yet), so the gaps an ingest reply lists are looked for above it only.
Existing devices start at 0 and catch up on their next batch.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('devices', sa.Column('seq_contiguous', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('seq_contiguous')
