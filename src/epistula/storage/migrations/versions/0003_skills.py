"""Skills and their versions (the Skills API): metadata here, each version's files as
one zip archive in the blob store under the version id."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from epistula.storage.columns import BigInt, Seconds, required
from epistula.storage.migrations.tables import create_listable

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_listable(
        "skills",
        *required(sa.Text, "workspace_id", "name", "display_name", "source", "latest_version_id"),
        *required(Seconds, "created_at", "updated_at"),
    )
    op.create_index("skills_by_workspace", "skills", ["workspace_id", "seq"])
    create_listable(
        "skill_versions",
        *required(sa.Text, "skill_id", "workspace_id", "version", "name", "description", "directory"),
        *required(BigInt, "size_bytes"),
        *required(sa.Integer, "file_count"),
        *required(Seconds, "created_at"),
        sa.UniqueConstraint("skill_id", "version"),
    )
    op.create_index("skill_versions_by_skill", "skill_versions", ["skill_id", "seq"])


def downgrade() -> None:
    op.drop_table("skill_versions")
    op.drop_table("skills")
