"""Versioned schema migrations, one list per dialect, recorded in ``schema_migrations``.

A migration is applied at most once, inside a transaction together with its
``schema_migrations`` row, so a crash mid-migration leaves the database at the previous
version. New versions are appended; shipped ones are never edited.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


SQLITE: tuple[Migration, ...] = (
    Migration(
        1,
        "batches, batch requests and files",
        (
            """CREATE TABLE batches (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                workspace_id TEXT NOT NULL,
                api_version TEXT NOT NULL,
                processing_status TEXT NOT NULL,
                request_count INTEGER NOT NULL,
                open_count INTEGER NOT NULL,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                ended_at REAL,
                cancel_initiated_at REAL,
                archived_at REAL,
                n_succeeded INTEGER NOT NULL DEFAULT 0,
                n_errored INTEGER NOT NULL DEFAULT 0,
                n_canceled INTEGER NOT NULL DEFAULT 0,
                n_expired INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX batches_by_workspace ON batches (workspace_id, seq)",
            "CREATE INDEX batches_open ON batches (expires_at) WHERE processing_status <> 'ended'",
            """CREATE TABLE batch_requests (
                batch_id TEXT NOT NULL,
                idx INTEGER NOT NULL,
                batch_seq INTEGER NOT NULL,
                custom_id TEXT NOT NULL,
                params TEXT,
                status TEXT NOT NULL,
                worker_id TEXT,
                claimed_at REAL,
                finished_at REAL,
                result TEXT,
                PRIMARY KEY (batch_id, idx)
            )""",
            "CREATE INDEX batch_requests_pending ON batch_requests (batch_seq, idx) WHERE status = 'pending'",
            "CREATE INDEX batch_requests_running ON batch_requests (worker_id) WHERE status = 'running'",
            """CREATE TABLE files (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                workspace_id TEXT NOT NULL,
                filename TEXT NOT NULL,
                mime_type TEXT NOT NULL,
                size_bytes INTEGER NOT NULL,
                created_at REAL NOT NULL,
                downloadable INTEGER NOT NULL DEFAULT 0,
                expires_at REAL
            )""",
            "CREATE INDEX files_by_workspace ON files (workspace_id, seq)",
        ),
    ),
    Migration(
        2,
        "workspaces, API keys and workspace members",
        (
            """CREATE TABLE workspaces (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                display_color TEXT NOT NULL,
                tags TEXT NOT NULL DEFAULT '{}',
                data_residency TEXT,
                created_at REAL NOT NULL,
                archived_at REAL
            )""",
            "INSERT INTO workspaces (id, name, display_color, created_at)"
            " VALUES ('wrkspc_default', 'Default', '#6C5BB9', CAST(strftime('%s', 'now') AS REAL))",
            """CREATE TABLE api_keys (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                workspace_id TEXT,
                status TEXT NOT NULL,
                partial_key_hint TEXT NOT NULL,
                created_at REAL NOT NULL,
                created_by_id TEXT,
                created_by_type TEXT,
                expires_at REAL
            )""",
            "CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, seq)",
            """CREATE TABLE workspace_members (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                workspace_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                workspace_role TEXT NOT NULL,
                UNIQUE (workspace_id, user_id)
            )""",
        ),
    ),
    Migration(
        3,
        "usage records",
        (
            """CREATE TABLE usage_records (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                request_id TEXT NOT NULL,
                created_at REAL NOT NULL,
                workspace_id TEXT NOT NULL,
                api_key_id TEXT,
                model TEXT NOT NULL,
                service_tier TEXT NOT NULL,
                context_window TEXT NOT NULL,
                batch INTEGER NOT NULL DEFAULT 0,
                outcome TEXT NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cache_read_input_tokens INTEGER NOT NULL,
                cache_creation_5m_input_tokens INTEGER NOT NULL,
                cache_creation_1h_input_tokens INTEGER NOT NULL,
                latency_ms REAL NOT NULL,
                ttft_ms REAL
            )""",
            "CREATE INDEX usage_records_by_time ON usage_records (created_at)",
            "CREATE INDEX usage_records_by_workspace ON usage_records (workspace_id, created_at)",
        ),
    ),
)

POSTGRES: tuple[Migration, ...] = (
    Migration(
        1,
        "batches, batch requests and files",
        (
            """CREATE TABLE batches (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                workspace_id TEXT NOT NULL,
                api_version TEXT NOT NULL,
                processing_status TEXT NOT NULL,
                request_count INTEGER NOT NULL,
                open_count INTEGER NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                ended_at DOUBLE PRECISION,
                cancel_initiated_at DOUBLE PRECISION,
                archived_at DOUBLE PRECISION,
                n_succeeded INTEGER NOT NULL DEFAULT 0,
                n_errored INTEGER NOT NULL DEFAULT 0,
                n_canceled INTEGER NOT NULL DEFAULT 0,
                n_expired INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX batches_by_workspace ON batches (workspace_id, seq)",
            "CREATE INDEX batches_open ON batches (expires_at) WHERE processing_status <> 'ended'",
            """CREATE TABLE batch_requests (
                batch_id TEXT NOT NULL,
                idx INTEGER NOT NULL,
                batch_seq BIGINT NOT NULL,
                custom_id TEXT NOT NULL,
                params TEXT,
                status TEXT NOT NULL,
                worker_id TEXT,
                claimed_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                result TEXT,
                PRIMARY KEY (batch_id, idx)
            )""",
            "CREATE INDEX batch_requests_pending ON batch_requests (batch_seq, idx) WHERE status = 'pending'",
            "CREATE INDEX batch_requests_running ON batch_requests (worker_id) WHERE status = 'running'",
            """CREATE TABLE files (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                workspace_id TEXT NOT NULL,
                filename TEXT NOT NULL,
                mime_type TEXT NOT NULL,
                size_bytes BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                downloadable BOOLEAN NOT NULL DEFAULT FALSE,
                expires_at DOUBLE PRECISION
            )""",
            "CREATE INDEX files_by_workspace ON files (workspace_id, seq)",
        ),
    ),
    Migration(
        2,
        "workspaces, API keys and workspace members",
        (
            """CREATE TABLE workspaces (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                display_color TEXT NOT NULL,
                tags TEXT NOT NULL DEFAULT '{}',
                data_residency TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                archived_at DOUBLE PRECISION
            )""",
            "INSERT INTO workspaces (id, name, display_color, created_at)"
            " VALUES ('wrkspc_default', 'Default', '#6C5BB9', extract(epoch FROM now()))",
            """CREATE TABLE api_keys (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                workspace_id TEXT,
                status TEXT NOT NULL,
                partial_key_hint TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                created_by_id TEXT,
                created_by_type TEXT,
                expires_at DOUBLE PRECISION
            )""",
            "CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, seq)",
            """CREATE TABLE workspace_members (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                workspace_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                workspace_role TEXT NOT NULL,
                UNIQUE (workspace_id, user_id)
            )""",
        ),
    ),
    Migration(
        3,
        "usage records",
        (
            """CREATE TABLE usage_records (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                workspace_id TEXT NOT NULL,
                api_key_id TEXT,
                model TEXT NOT NULL,
                service_tier TEXT NOT NULL,
                context_window TEXT NOT NULL,
                batch BOOLEAN NOT NULL DEFAULT FALSE,
                outcome TEXT NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cache_read_input_tokens INTEGER NOT NULL,
                cache_creation_5m_input_tokens INTEGER NOT NULL,
                cache_creation_1h_input_tokens INTEGER NOT NULL,
                latency_ms DOUBLE PRECISION NOT NULL,
                ttft_ms DOUBLE PRECISION
            )""",
            "CREATE INDEX usage_records_by_time ON usage_records (created_at)",
            "CREATE INDEX usage_records_by_workspace ON usage_records (workspace_id, created_at)",
        ),
    ),
)
