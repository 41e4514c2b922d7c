"""One-time provisioning tokens: a device is registered with a short-lived, single-use token (the QR
code) that the kiosk exchanges once for the device token it then uses; the device token is empty
until then. Devices registered before keep their token.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.alter_column('token_hash', existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column('provision_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('provision_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('provision_used_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('provision_used_from', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # A device not yet activated has no token to keep: it gets one nobody holds (provision it again).
    op.execute("UPDATE devices SET token_hash = '' WHERE token_hash IS NULL")
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('provision_used_from')
        batch.drop_column('provision_used_at')
        batch.drop_column('provision_expires_at')
        batch.drop_column('provision_hash')
        batch.alter_column('token_hash', existing_type=sa.String(length=64), nullable=False)
