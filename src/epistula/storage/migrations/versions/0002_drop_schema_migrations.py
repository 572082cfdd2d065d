"""Drop ``schema_migrations``, the bookkeeping of the migrations before Alembic: a
database made then was stamped at the baseline, and ``alembic_version`` replaces it.
(A database made by Alembic never had it.)"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS schema_migrations")


def downgrade() -> None:
    pass
