"""Baseline: batches, batch requests, files, workspaces, API keys, workspace members and
usage records, exactly as the old ``schema_migrations`` versions 1-3 left them (which is
why databases made then are stamped here rather than migrated).

Frozen: later schema changes are new revisions, never edits of this one.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

BigInt: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Seconds: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
Flag: sa.types.TypeEngine[bool] = sa.Boolean().with_variant(sa.Integer(), "sqlite")


def _seq() -> sa.Column[int]:
    return sa.Column("seq", BigInt, sa.Identity(always=True), primary_key=True)


def _partial(name: str, table: str, columns: list[str], where: str) -> None:
    op.create_index(name, table, columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    op.create_table(
        "batches",
        _seq(),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("api_version", sa.Text, nullable=False),
        sa.Column("processing_status", sa.Text, nullable=False),
        sa.Column("request_count", sa.Integer, nullable=False),
        sa.Column("open_count", sa.Integer, nullable=False),
        sa.Column("created_at", Seconds, nullable=False),
        sa.Column("expires_at", Seconds, nullable=False),
        sa.Column("ended_at", Seconds),
        sa.Column("cancel_initiated_at", Seconds),
        sa.Column("archived_at", Seconds),
        *(
            sa.Column(f"n_{status}", sa.Integer, nullable=False, server_default=sa.text("0"))
            for status in ("succeeded", "errored", "canceled", "expired")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("batches_by_workspace", "batches", ["workspace_id", "seq"])
    _partial("batches_open", "batches", ["expires_at"], "processing_status <> 'ended'")
    op.create_table(
        "batch_requests",
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("batch_seq", BigInt, nullable=False),
        sa.Column("custom_id", sa.Text, nullable=False),
        sa.Column("params", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("worker_id", sa.Text),
        sa.Column("claimed_at", Seconds),
        sa.Column("finished_at", Seconds),
        sa.Column("result", sa.Text),
    )
    _partial("batch_requests_pending", "batch_requests", ["batch_seq", "idx"], "status = 'pending'")
    _partial("batch_requests_running", "batch_requests", ["worker_id"], "status = 'running'")
    op.create_table(
        "files",
        _seq(),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("mime_type", sa.Text, nullable=False),
        sa.Column("size_bytes", BigInt, nullable=False),
        sa.Column("created_at", Seconds, nullable=False),
        sa.Column("downloadable", Flag, nullable=False, server_default=sa.false()),
        sa.Column("expires_at", Seconds),
        sqlite_autoincrement=True,
    )
    op.create_index("files_by_workspace", "files", ["workspace_id", "seq"])
    workspaces = op.create_table(
        "workspaces",
        _seq(),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("display_color", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("data_residency", sa.Text),
        sa.Column("created_at", Seconds, nullable=False),
        sa.Column("archived_at", Seconds),
        sqlite_autoincrement=True,
    )
    op.bulk_insert(
        workspaces,
        [{"id": "wrkspc_default", "name": "Default", "display_color": "#6C5BB9", "created_at": time.time()}],
    )
    op.create_table(
        "api_keys",
        _seq(),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("workspace_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("partial_key_hint", sa.Text, nullable=False),
        sa.Column("created_at", Seconds, nullable=False),
        sa.Column("created_by_id", sa.Text),
        sa.Column("created_by_type", sa.Text),
        sa.Column("expires_at", Seconds),
        sqlite_autoincrement=True,
    )
    op.create_index("api_keys_by_workspace", "api_keys", ["workspace_id", "seq"])
    op.create_table(
        "workspace_members",
        _seq(),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("workspace_role", sa.Text, nullable=False),
        sa.UniqueConstraint("workspace_id", "user_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "usage_records",
        _seq(),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("created_at", Seconds, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("api_key_id", sa.Text),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("service_tier", sa.Text, nullable=False),
        sa.Column("context_window", sa.Text, nullable=False),
        sa.Column("batch", Flag, nullable=False, server_default=sa.false()),
        sa.Column("outcome", sa.Text, nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=False)
            for name in (
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_5m_input_tokens",
                "cache_creation_1h_input_tokens",
            )
        ),
        sa.Column("latency_ms", Seconds, nullable=False),
        sa.Column("ttft_ms", Seconds),
        sqlite_autoincrement=True,
    )
    op.create_index("usage_records_by_time", "usage_records", ["created_at"])
    op.create_index("usage_records_by_workspace", "usage_records", ["workspace_id", "created_at"])


def downgrade() -> None:
    for table in ("usage_records", "workspace_members", "api_keys", "workspaces", "files", "batch_requests", "batches"):
        op.drop_table(table)
