"""An event id is stored once across every device: event ids are UUIDv7 made on the kiosk, and a kiosk
provisioned again as a new device (or pulled out by `labgate-server pull-device` and then pushing)
sends events it recorded under its earlier device id; they are duplicates, not new rows. The index
also serves that look-up.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ux_events_event_id', 'events', ['event_id'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_events_event_id', table_name='events')
