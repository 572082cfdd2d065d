"""Writes ``tests/migrations/legacy/`` (a data directory) with the storage code of before
SQLAlchemy and Alembic: the old ``schema_migrations`` bookkeeping (versions 1-3), keys,
workspaces, a member, an ended batch with results, a batch with a pending request and one
claimed by a worker that has since died, a file (metadata and bytes) and usage rows.

Also writes ``legacy_postgres.sql``: the old PostgreSQL migrations as they were applied,
so the PostgreSQL upgrade test can build the same old database.

Run once, at the last commit with the old storage code (this script needs it):
    PYTHONPATH=src:tests python tests/migrations/make_legacy_fixture.py
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

from epistula.accounting.records import TokenCounts, UsageRecord
from epistula.auth.keys import hash_key
from epistula.storage import open_blobs, open_storage
from epistula.storage.base import ApiKeyRecord, BatchRecord, FileRecord, MemberRecord, NewRequest, WorkspaceRecord
from epistula.storage.migrations import POSTGRES
from epistula.storage.usage import open_usage_store

HERE = Path(__file__).parent
T0 = 1_700_000_000.0


def main() -> None:
    out = HERE / "legacy"
    shutil.rmtree(out, ignore_errors=True)
    store = open_storage(None, out)
    store.add_workspace(
        WorkspaceRecord("wrkspc_team", "Team", T0, "#112233", tags={"team": "a"}, data_residency={"workspace_geo": "us"})
    )
    store.add_workspace(WorkspaceRecord("wrkspc_gone", "Gone", T0 + 1, "#445566"))
    store.add_key(
        ApiKeyRecord("apikey_team", "api", "team key", "wrkspc_team", "active", "sk-epi-api01-leg...team", T0 + 2),
        hash_key("sk-epi-api01-legacy-team"),
    )
    store.add_key(
        ApiKeyRecord("apikey_default", "api", "default key", "wrkspc_default", "active", "sk-...dflt", T0 + 3),
        hash_key("sk-epi-api01-legacy-default"),
    )
    store.add_key(
        ApiKeyRecord("apikey_admin", "admin", "ops", None, "active", "sk-ant-admin01...ops", T0 + 4),
        hash_key("sk-ant-admin01-legacy-ops"),
    )
    store.add_key(
        ApiKeyRecord("apikey_gone", "api", "gone key", "wrkspc_gone", "active", "sk-...gone", T0 + 5),
        hash_key("sk-epi-api01-legacy-gone"),
    )
    store.archive_workspace("wrkspc_gone", T0 + 6)
    store.put_member(MemberRecord("wrkspc_team", "user_1", "workspace_admin"), create=True)

    def batch(batch_id: str, n: int, created: float) -> None:
        record = BatchRecord(batch_id, "wrkspc_team", "2023-06-01", "in_progress", n, created, created + 86400)
        store.create_batch(record, [NewRequest(f"r{i}", json.dumps({"i": i})) for i in range(n)])

    batch("msgbatch_done", 3, T0 + 10)
    claimed = store.claim("worker-old", 3, T0 + 11)
    outcomes = ["succeeded", "errored", "succeeded"]
    for c, status in zip(claimed, outcomes, strict=True):
        assert store.complete("worker-old", c.batch_id, c.index, status, json.dumps({"type": status, "i": c.index}), T0 + 12)  # type: ignore[arg-type]
    batch("msgbatch_open", 2, T0 + 20)
    (running,) = store.claim("worker-dead", 1, T0 + 21)  # never registered: its process is gone
    assert running.index == 0

    open_blobs(out).write("file_legacy01", io.BytesIO(b"hello from the old store\n"))
    store.add_file(FileRecord("file_legacy01", "wrkspc_team", "hello.txt", "text/plain", 25, T0 + 30, downloadable=True))
    store.add_file(FileRecord("file_legacy02", "wrkspc_team", "old.txt", "text/plain", 3, T0 + 31, expires_at=T0 + 40))
    assert store.applied_migrations() == [1, 2, 3]

    usage = open_usage_store(None, out)
    usage.insert(
        [
            UsageRecord(
                "req_1", T0 + 50, "wrkspc_team", "apikey_team", "model-a", "standard", False, "succeeded",
                TokenCounts(10, 20, 3, 4, 5), 123.5, 45.25,
            ),
            UsageRecord(
                "req_2", T0 + 60, "wrkspc_team", None, "model-a", "batch", True, "errored",
                TokenCounts(1, 2, 0, 0, 0), 7.0, None,
            ),
        ]
    )
    usage.close()
    store.close()
    shutil.rmtree(out / "storage.db.workers", ignore_errors=True)

    lines = [
        "-- The PostgreSQL schema of the old storage code (migrations 1-3), as applied.",
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at DOUBLE PRECISION NOT NULL);",
    ]
    for migration in POSTGRES:
        lines.append(f"-- migration {migration.version}: {migration.name}")
        lines.extend(statement.strip() + ";" for statement in migration.statements)
        lines.append(
            f"INSERT INTO schema_migrations VALUES ({migration.version}, '{migration.name}', {time.time():.0f});"
        )
    (HERE / "legacy_postgres.sql").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
