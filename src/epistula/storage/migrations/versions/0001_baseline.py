"""Baseline: batches, batch requests, files, workspaces, API keys, workspace members and
usage records, exactly as the old ``schema_migrations`` versions 1-3 left them (which is
why databases made then are stamped here rather than migrated).

Frozen: later schema changes are new revisions, never edits of this one.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

from epistula.storage.columns import BigInt, Flag, Seconds, counters, only_where, optional, required, seq
from epistula.storage.migrations.tables import create_listable

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_listable(
        "batches",
        *required(sa.Text, "workspace_id", "api_version", "processing_status"),
        *required(sa.Integer, "request_count", "open_count"),
        *required(Seconds, "created_at", "expires_at"),
        *optional(Seconds, "ended_at", "cancel_initiated_at", "archived_at"),
        *counters("n_succeeded", "n_errored", "n_canceled", "n_expired"),
    )
    op.create_index("batches_by_workspace", "batches", ["workspace_id", "seq"])
    op.create_index("batches_open", "batches", ["expires_at"], **only_where("processing_status <> 'ended'"))
    op.create_table(
        "batch_requests",
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        *required(BigInt, "batch_seq"),
        *required(sa.Text, "custom_id"),
        *optional(sa.Text, "params"),
        *required(sa.Text, "status"),
        *optional(sa.Text, "worker_id"),
        *optional(Seconds, "claimed_at", "finished_at"),
        *optional(sa.Text, "result"),
    )
    op.create_index(
        "batch_requests_pending", "batch_requests", ["batch_seq", "idx"], **only_where("status = 'pending'")
    )
    op.create_index("batch_requests_running", "batch_requests", ["worker_id"], **only_where("status = 'running'"))
    create_listable(
        "files",
        *required(sa.Text, "workspace_id", "filename", "mime_type"),
        *required(BigInt, "size_bytes"),
        *required(Seconds, "created_at"),
        *required(Flag, "downloadable", server_default=sa.false()),
        *optional(Seconds, "expires_at"),
    )
    op.create_index("files_by_workspace", "files", ["workspace_id", "seq"])
    workspaces = create_listable(
        "workspaces",
        *required(sa.Text, "name", "display_color"),
        *required(sa.Text, "tags", server_default=sa.text("'{}'")),
        *optional(sa.Text, "data_residency"),
        *required(Seconds, "created_at"),
        *optional(Seconds, "archived_at"),
    )
    op.bulk_insert(
        workspaces,
        [{"id": "wrkspc_default", "name": "Default", "display_color": "#6C5BB9", "created_at": time.time()}],
    )
    create_listable(
        "api_keys",
        *required(sa.Text, "kind"),
        *required(sa.Text, "key_hash", unique=True),
        *required(sa.Text, "name"),
        *optional(sa.Text, "workspace_id"),
        *required(sa.Text, "status", "partial_key_hint"),
        *required(Seconds, "created_at"),
        *optional(sa.Text, "created_by_id", "created_by_type"),
        *optional(Seconds, "expires_at"),
    )
    op.create_index("api_keys_by_workspace", "api_keys", ["workspace_id", "seq"])
    op.create_table(
        "workspace_members",
        seq(),
        *required(sa.Text, "workspace_id", "user_id", "workspace_role"),
        sa.UniqueConstraint("workspace_id", "user_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "usage_records",
        seq(),
        *required(sa.Text, "request_id"),
        *required(Seconds, "created_at"),
        *required(sa.Text, "workspace_id"),
        *optional(sa.Text, "api_key_id"),
        *required(sa.Text, "model", "service_tier", "context_window"),
        *required(Flag, "batch", server_default=sa.false()),
        *required(sa.Text, "outcome"),
        *required(
            sa.Integer,
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_5m_input_tokens",
            "cache_creation_1h_input_tokens",
        ),
        *required(Seconds, "latency_ms"),
        *optional(Seconds, "ttft_ms"),
        sqlite_autoincrement=True,
    )
    op.create_index("usage_records_by_time", "usage_records", ["created_at"])
    op.create_index("usage_records_by_workspace", "usage_records", ["workspace_id", "created_at"])


def downgrade() -> None:
    for table in ("usage_records", "workspace_members", "api_keys", "workspaces", "files", "batch_requests", "batches"):
        op.drop_table(table)
