-- The PostgreSQL schema of the old storage code (migrations 1-3), as applied.
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL);
-- migration 1: batches, batch requests and files
CREATE TABLE batches (
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
            );
CREATE INDEX batches_by_workspace ON batches (workspace_id, seq);
CREATE INDEX batches_open ON batches (expires_at) WHERE processing_status <> 'ended';
CREATE TABLE batch_requests (
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
            );
CREATE INDEX batch_requests_pending ON batch_requests (batch_seq, idx) WHERE status = 'pending';
CREATE INDEX batch_requests_running ON batch_requests (worker_id) WHERE status = 'running';
CREATE TABLE files (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                workspace_id TEXT NOT NULL,
                filename TEXT NOT NULL,
                mime_type TEXT NOT NULL,
                size_bytes BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                downloadable BOOLEAN NOT NULL DEFAULT FALSE,
                expires_at DOUBLE PRECISION
            );
CREATE INDEX files_by_workspace ON files (workspace_id, seq);
INSERT INTO schema_migrations VALUES (1, 'batches, batch requests and files', 1796302823);
-- migration 2: workspaces, API keys and workspace members
CREATE TABLE workspaces (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                display_color TEXT NOT NULL,
                tags TEXT NOT NULL DEFAULT '{}',
                data_residency TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                archived_at DOUBLE PRECISION
            );
INSERT INTO workspaces (id, name, display_color, created_at) VALUES ('wrkspc_default', 'Default', '#6C5BB9', extract(epoch FROM now()));
CREATE TABLE api_keys (
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
            );
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, seq);
CREATE TABLE workspace_members (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                workspace_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                workspace_role TEXT NOT NULL,
                UNIQUE (workspace_id, user_id)
            );
INSERT INTO schema_migrations VALUES (2, 'workspaces, API keys and workspace members', 1796302823);
-- migration 3: usage records
CREATE TABLE usage_records (
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
            );
CREATE INDEX usage_records_by_time ON usage_records (created_at);
CREATE INDEX usage_records_by_workspace ON usage_records (workspace_id, created_at);
INSERT INTO schema_migrations VALUES (3, 'usage records', 1796302823);
