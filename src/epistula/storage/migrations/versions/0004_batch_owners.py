"""Batches remember the key that created them (its batches stop when it is disabled) and
the bytes of their requests' params (the per-workspace batch quota sums them)."""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Text, text

from epistula.storage.columns import BigInt

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.add_column(Column("created_by_key_id", Text))
        table.add_column(Column("params_bytes", BigInt, nullable=False, server_default=text("0")))


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.drop_column("params_bytes")
        table.drop_column("created_by_key_id")
