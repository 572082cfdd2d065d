"""Databases made before SQLAlchemy and Alembic are upgraded in place.

``legacy/`` is a data directory written by the old storage code (commit 27f1e40,
``tests/migrations/make_legacy_fixture.py`` there): a SQLite ``storage.db`` with the old
``schema_migrations`` bookkeeping at versions 1-3 and keys, workspaces, a member, an
ended batch with results, a batch with a pending request and one claimed by a worker
that has since died, two files (one with its bytes under ``files/``) and usage rows.
``legacy_postgres.sql`` is the old PostgreSQL schema, as the old migrations applied it.

Each test opens a copy with the new code (which stamps it at the baseline revision and
upgrades it to the head), checks that the schema is exactly :mod:`epistula.storage.schema`,
and reads everything back through the new stores, then keeps using them.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from batches.support import needs_postgres, postgres_schema
from epistula.accounting.records import TokenCounts
from epistula.accounting.usage_store import UsageQuery, UsageStore
from epistula.auth.keys import KeyStore
from epistula.storage.batches import BatchStore
from epistula.storage.blobs import open_blobs
from epistula.storage.common import StorageError
from epistula.storage.database import SQLITE_FILENAME, Database, open_database
from epistula.storage.files import FileRecord, FileStore
from epistula.storage.migrate import current_revision, head_revision
from epistula.storage.schema import metadata
from epistula.storage.tenancy import MemberRecord, TenancyStore

HERE = Path(__file__).parent
T0 = 1_700_000_000.0


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """A copy of the legacy data directory (the committed one is never written)."""
    return Path(shutil.copytree(HERE / "legacy", tmp_path / "data"))


def check_schema(database: Database) -> None:
    with database.read() as conn:
        assert current_revision(conn) == head_revision()
        assert "schema_migrations" not in inspect(conn).get_table_names()
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def check_everything_reads_back(database: Database, data_dir: Path) -> None:
    tenancy = TenancyStore(database)
    keys = KeyStore(tenancy, clock=lambda: T0 + 100)
    team = keys.verify("sk-epi-api01-legacy-team")
    assert team is not None and (team.key_id, team.workspace_id) == ("apikey_team", "wrkspc_team")
    default = keys.verify("sk-epi-api01-legacy-default")
    assert default is not None and default.workspace_id == "wrkspc_default"
    # Not in the documented format: a fixed EPISTULA_ADMIN_API_KEY, which a server start
    # registers again (idempotently: the record stays the legacy one) before it is looked up.
    assert keys.add("sk-ant-admin01-legacy-ops", name="EPISTULA_ADMIN_API_KEY", kind="admin").id == "apikey_admin"
    admin = keys.verify_admin("sk-ant-admin01-legacy-ops")
    assert admin is not None and admin.key_id == "apikey_admin"
    assert keys.verify("sk-epi-api01-legacy-gone") is None, "its workspace was archived"
    assert keys.get("apikey_gone").status == "archived"
    assert [k.id for k in keys.list(limit=10).items] == ["apikey_gone", "apikey_default", "apikey_team"]
    workspace = tenancy.get_workspace("wrkspc_team")
    assert workspace is not None
    assert (workspace.name, workspace.display_color, workspace.created_at) == ("Team", "#112233", T0)
    assert workspace.tags == {"team": "a"} and workspace.data_residency == {"workspace_geo": "us"}
    gone = tenancy.get_workspace("wrkspc_gone")
    assert gone is not None and gone.archived_at == T0 + 6
    assert tenancy.get_member("wrkspc_team", "user_1") == MemberRecord("wrkspc_team", "user_1", "workspace_admin")

    batches = BatchStore(database)
    try:
        done = batches.get_batch("wrkspc_team", "msgbatch_done")
        assert done is not None and done.processing_status == "ended" and done.ended_at == T0 + 12
        assert (done.counts.succeeded, done.counts.errored, done.counts.processing) == (2, 1, 0)
        results = batches.results("msgbatch_done")
        assert [(x.custom_id, x.status, x.result) for x in results] == [
            ("r0", "succeeded", '{"type": "succeeded", "i": 0}'),
            ("r1", "errored", '{"type": "errored", "i": 1}'),
            ("r2", "succeeded", '{"type": "succeeded", "i": 2}'),
        ]
        # The dead worker's claim goes back to the queue; the batch then runs to its end.
        batches.register_worker("new-worker")
        assert batches.recover_orphans("new-worker") == 1
        claimed = batches.claim("new-worker", 10, T0 + 200)
        assert [(c.batch_id, c.index, c.params) for c in claimed] == [
            ("msgbatch_open", 0, '{"i": 0}'),
            ("msgbatch_open", 1, '{"i": 1}'),
        ]
        for c in claimed:
            assert batches.complete("new-worker", c.batch_id, c.index, "succeeded", "{}", T0 + 201)
        ended = batches.get_batch("wrkspc_team", "msgbatch_open")
        assert ended is not None and ended.processing_status == "ended" and ended.counts.succeeded == 2
        page = batches.list_batches("wrkspc_team", limit=10)
        assert [x.id for x in page.items] == ["msgbatch_open", "msgbatch_done"]
    finally:
        batches.close()

    files = FileStore(database)
    hello = FileRecord("file_legacy01", "wrkspc_team", "hello.txt", "text/plain", 25, T0 + 30, downloadable=True)
    assert files.get_file("wrkspc_team", "file_legacy01") == hello
    assert [f.id for f in files.list_files("wrkspc_team", limit=10, now=T0 + 100).items] == ["file_legacy01"]
    assert [f.id for f in files.expired_files(T0 + 100)] == ["file_legacy02"]
    with open_blobs(data_dir).open("file_legacy01") as blob:
        assert blob.read() == b"hello from the old store\n"
    files.add_file(FileRecord("file_new", "wrkspc_team", "new.txt", "text/plain", 1, T0 + 300))
    listed = files.list_files("wrkspc_team", limit=10, now=T0 + 100)
    assert [f.id for f in listed.items] == ["file_new", "file_legacy01"], "new rows sort after the old ones"

    usage = UsageStore(database)
    by_key = usage.aggregate(UsageQuery(start=T0, end=T0 + 100, group_by=("api_key_id", "service_tier")))
    assert [(g.keys["api_key_id"], g.keys["service_tier"], g.tokens, g.requests) for g in by_key] == [
        (None, "batch", TokenCounts(1, 2, 0, 0, 0), 1),
        ("apikey_team", "standard", TokenCounts(10, 20, 3, 4, 5), 1),
    ]


def test_a_legacy_sqlite_database_is_upgraded_in_place(data_dir: Path) -> None:
    with open_database(None, data_dir) as database:
        check_schema(database)
        check_everything_reads_back(database, data_dir)
    with open_database(None, data_dir) as database:  # a restart: already at the head
        check_schema(database)
        assert TenancyStore(database).get_key("apikey_team") is not None


def test_a_partly_migrated_legacy_database_is_refused_unchanged(data_dir: Path) -> None:
    path = data_dir / SQLITE_FILENAME
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM schema_migrations WHERE version = 3")
    db.close()
    with pytest.raises(StorageError, match=r"old schema versions \[1, 2\]"):
        open_database(None, data_dir)
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "alembic_version" not in tables and "schema_migrations" in tables


@pytest.fixture()
def legacy_postgres(data_dir: Path) -> Iterator[str]:
    """A private schema built with the old PostgreSQL DDL, holding the fixture's rows
    (copied from the SQLite file in insertion order, so identities number them afresh)."""
    import psycopg

    with postgres_schema() as url:
        source = sqlite3.connect(data_dir / SQLITE_FILENAME)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute((HERE / "legacy_postgres.sql").read_text())
                conn.execute("DELETE FROM workspaces")  # the old migration's default one comes with the rows
                legacy = {row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                tables = [t.name for t in metadata.sorted_tables if t.name in legacy]  # later tables start empty
                for table in tables:
                    cur = source.execute(f"SELECT * FROM {table} ORDER BY rowid")
                    columns = [d[0] for d in cur.description if d[0] != "seq"]
                    for row in cur.fetchall():
                        values = dict(zip([d[0] for d in cur.description], row, strict=True))
                        for flag in ("downloadable", "batch"):
                            if flag in values:
                                values[flag] = bool(values[flag])
                        marks = ", ".join(["%s"] * len(columns))
                        conn.execute(
                            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                            [values[c] for c in columns],
                        )
        finally:
            source.close()
        yield url


@needs_postgres
def test_a_legacy_postgres_database_is_upgraded_in_place(legacy_postgres: str, data_dir: Path) -> None:
    with open_database(legacy_postgres, data_dir) as database:
        check_schema(database)
        check_everything_reads_back(database, data_dir)
    with open_database(legacy_postgres, data_dir) as database:
        check_schema(database)
