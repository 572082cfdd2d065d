"""The database schema: one SQLAlchemy Core definition for SQLite and PostgreSQL.

Alembic compares it with the migrations (``tests/migrations`` checks that the head
revision builds exactly this), and the stores query through these tables, so the SQL
both databases run comes from one place.

Every listable table has ``seq``, an increasing insertion number, for keyset
pagination (newest first); times are POSIX seconds as doubles. The column types
(:mod:`.columns`) keep the exact types the databases had before SQLAlchemy, so databases
made then need no data migration.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text, UniqueConstraint, false, text
from sqlalchemy.schema import SchemaItem

from .columns import BigInt, Flag, Seconds, counters, only_where, optional, public_id, required, seq

metadata = MetaData()


def _listable(name: str, *items: SchemaItem) -> Table:
    """A listable table: ``seq`` and the public ``id`` first, then ``items``; on SQLite
    ``AUTOINCREMENT``, so that a deleted row's ``seq`` is never handed out again."""
    return Table(name, metadata, seq(), public_id(), *items, sqlite_autoincrement=True)


batches = _listable(
    "batches",
    *required(Text, "workspace_id", "api_version", "processing_status"),
    *required(Integer, "request_count", "open_count"),
    *required(Seconds, "created_at", "expires_at"),
    *optional(Seconds, "ended_at", "cancel_initiated_at", "archived_at"),
    *counters("n_succeeded", "n_errored", "n_canceled", "n_expired"),
    *optional(Text, "created_by_key_id"),
    *required(BigInt, "params_bytes", server_default=text("0")),
    Index("batches_by_workspace", "workspace_id", "seq"),
    Index("batches_open", "expires_at", **only_where("processing_status <> 'ended'")),
)

batch_requests = Table(
    "batch_requests",
    metadata,
    Column("batch_id", Text, primary_key=True),
    Column("idx", Integer, primary_key=True),
    *required(BigInt, "batch_seq"),
    *required(Text, "custom_id"),
    *optional(Text, "params"),
    *required(Text, "status"),
    *optional(Text, "worker_id"),
    *optional(Seconds, "claimed_at", "finished_at"),
    *optional(Text, "result"),
    Index("batch_requests_pending", "batch_seq", "idx", **only_where("status = 'pending'")),
    Index("batch_requests_running", "worker_id", **only_where("status = 'running'")),
)

files = _listable(
    "files",
    *required(Text, "workspace_id", "filename", "mime_type"),
    *required(BigInt, "size_bytes"),
    *required(Seconds, "created_at"),
    *required(Flag, "downloadable", server_default=false()),
    *optional(Seconds, "expires_at"),
    Index("files_by_workspace", "workspace_id", "seq"),
)

skills = _listable(
    "skills",
    *required(Text, "workspace_id", "name", "display_name", "source", "latest_version_id"),
    *required(Seconds, "created_at", "updated_at"),
    Index("skills_by_workspace", "workspace_id", "seq"),
)

skill_versions = _listable(
    "skill_versions",
    *required(Text, "skill_id", "workspace_id", "version", "name", "description", "directory"),
    *required(BigInt, "size_bytes"),
    *required(Integer, "file_count"),
    *required(Seconds, "created_at"),
    Index("skill_versions_by_skill", "skill_id", "seq"),
    UniqueConstraint("skill_id", "version"),
)

workspaces = _listable(
    "workspaces",
    *required(Text, "name", "display_color"),
    *required(Text, "tags", server_default=text("'{}'")),
    *optional(Text, "data_residency"),
    *required(Seconds, "created_at"),
    *optional(Seconds, "archived_at"),
)

api_keys = _listable(
    "api_keys",
    *required(Text, "kind"),
    *required(Text, "key_hash", unique=True),
    *required(Text, "name"),
    *optional(Text, "workspace_id"),
    *required(Text, "status", "partial_key_hint"),
    *required(Seconds, "created_at"),
    *optional(Text, "created_by_id", "created_by_type"),
    *optional(Seconds, "expires_at"),
    Index("api_keys_by_workspace", "workspace_id", "seq"),
)

workspace_members = Table(
    "workspace_members",
    metadata,
    seq(),
    *required(Text, "workspace_id", "user_id", "workspace_role"),
    UniqueConstraint("workspace_id", "user_id"),
    sqlite_autoincrement=True,
)

usage_records = Table(
    "usage_records",
    metadata,
    seq(),
    *required(Text, "request_id"),
    *required(Seconds, "created_at"),
    *required(Text, "workspace_id"),
    *optional(Text, "api_key_id"),
    *required(Text, "model", "service_tier", "context_window"),
    *required(Flag, "batch", server_default=false()),
    *required(Text, "outcome"),
    *required(
        Integer,
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_5m_input_tokens",
        "cache_creation_1h_input_tokens",
    ),
    *required(Seconds, "latency_ms"),
    *optional(Seconds, "ttft_ms"),
    Index("usage_records_by_time", "created_at"),
    Index("usage_records_by_workspace", "workspace_id", "created_at"),
    sqlite_autoincrement=True,
)
