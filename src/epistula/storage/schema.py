"""The database schema: one SQLAlchemy Core definition for SQLite and PostgreSQL.

Alembic compares it with the migrations (``tests/migrations`` checks that the head
revision builds exactly this), and the stores query through these tables, so the SQL
both databases run comes from one place.

Every listable table has ``seq``, an increasing insertion number, for keyset
pagination (newest first); times are POSIX seconds as doubles. The column types keep
the exact types the databases had before SQLAlchemy (``REAL``/``INTEGER`` flags on
SQLite, ``DOUBLE PRECISION``/``BOOLEAN``/``BIGINT`` on PostgreSQL), so databases made
then need no data migration.
"""

from __future__ import annotations

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    Column,
    Double,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeEngine

metadata = MetaData()

BigInt: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""``BIGINT``; ``INTEGER`` on SQLite (the same 64 bits, and what ``AUTOINCREMENT`` needs)."""
Seconds: TypeEngine[float] = Double().with_variant(REAL(), "sqlite")
Flag: TypeEngine[bool] = Boolean().with_variant(Integer(), "sqlite")
"""``BOOLEAN``; ``INTEGER`` 0/1 on SQLite."""


def _seq() -> Column[int]:
    return Column("seq", BigInt, Identity(always=True), primary_key=True)


batches = Table(
    "batches",
    metadata,
    _seq(),
    Column("id", Text, nullable=False, unique=True),
    Column("workspace_id", Text, nullable=False),
    Column("api_version", Text, nullable=False),
    Column("processing_status", Text, nullable=False),
    Column("request_count", Integer, nullable=False),
    Column("open_count", Integer, nullable=False),
    Column("created_at", Seconds, nullable=False),
    Column("expires_at", Seconds, nullable=False),
    Column("ended_at", Seconds),
    Column("cancel_initiated_at", Seconds),
    Column("archived_at", Seconds),
    Column("n_succeeded", Integer, nullable=False, server_default=text("0")),
    Column("n_errored", Integer, nullable=False, server_default=text("0")),
    Column("n_canceled", Integer, nullable=False, server_default=text("0")),
    Column("n_expired", Integer, nullable=False, server_default=text("0")),
    Index("batches_by_workspace", "workspace_id", "seq"),
    Index(
        "batches_open",
        "expires_at",
        sqlite_where=text("processing_status <> 'ended'"),
        postgresql_where=text("processing_status <> 'ended'"),
    ),
    sqlite_autoincrement=True,
)

batch_requests = Table(
    "batch_requests",
    metadata,
    Column("batch_id", Text, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("batch_seq", BigInt, nullable=False),
    Column("custom_id", Text, nullable=False),
    Column("params", Text),
    Column("status", Text, nullable=False),
    Column("worker_id", Text),
    Column("claimed_at", Seconds),
    Column("finished_at", Seconds),
    Column("result", Text),
    Index(
        "batch_requests_pending",
        "batch_seq",
        "idx",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "batch_requests_running",
        "worker_id",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

files = Table(
    "files",
    metadata,
    _seq(),
    Column("id", Text, nullable=False, unique=True),
    Column("workspace_id", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("mime_type", Text, nullable=False),
    Column("size_bytes", BigInt, nullable=False),
    Column("created_at", Seconds, nullable=False),
    Column("downloadable", Flag, nullable=False, server_default=false()),
    Column("expires_at", Seconds),
    Index("files_by_workspace", "workspace_id", "seq"),
    sqlite_autoincrement=True,
)

workspaces = Table(
    "workspaces",
    metadata,
    _seq(),
    Column("id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("display_color", Text, nullable=False),
    Column("tags", Text, nullable=False, server_default=text("'{}'")),
    Column("data_residency", Text),
    Column("created_at", Seconds, nullable=False),
    Column("archived_at", Seconds),
    sqlite_autoincrement=True,
)

api_keys = Table(
    "api_keys",
    metadata,
    _seq(),
    Column("id", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("workspace_id", Text),
    Column("status", Text, nullable=False),
    Column("partial_key_hint", Text, nullable=False),
    Column("created_at", Seconds, nullable=False),
    Column("created_by_id", Text),
    Column("created_by_type", Text),
    Column("expires_at", Seconds),
    Index("api_keys_by_workspace", "workspace_id", "seq"),
    sqlite_autoincrement=True,
)

workspace_members = Table(
    "workspace_members",
    metadata,
    _seq(),
    Column("workspace_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("workspace_role", Text, nullable=False),
    UniqueConstraint("workspace_id", "user_id"),
    sqlite_autoincrement=True,
)

usage_records = Table(
    "usage_records",
    metadata,
    _seq(),
    Column("request_id", Text, nullable=False),
    Column("created_at", Seconds, nullable=False),
    Column("workspace_id", Text, nullable=False),
    Column("api_key_id", Text),
    Column("model", Text, nullable=False),
    Column("service_tier", Text, nullable=False),
    Column("context_window", Text, nullable=False),
    Column("batch", Flag, nullable=False, server_default=false()),
    Column("outcome", Text, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cache_read_input_tokens", Integer, nullable=False),
    Column("cache_creation_5m_input_tokens", Integer, nullable=False),
    Column("cache_creation_1h_input_tokens", Integer, nullable=False),
    Column("latency_ms", Seconds, nullable=False),
    Column("ttft_ms", Seconds),
    Index("usage_records_by_time", "created_at"),
    Index("usage_records_by_workspace", "workspace_id", "created_at"),
    sqlite_autoincrement=True,
)
