"""Opening the database: the URL forms the settings accept, SQLite's file modes and
pragmas, PostgreSQL's statement timeout."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from batches.support import needs_postgres, postgres_schema
from epistula.storage.common import StorageError
from epistula.storage.database import STATEMENT_TIMEOUT_MS, database_url, open_database


def test_the_url_forms_of_the_settings(tmp_path: Path) -> None:
    assert database_url(None, tmp_path).render_as_string() == f"sqlite+pysqlite:///{tmp_path}/storage.db"
    assert database_url("sqlite:////abs/x.db", tmp_path).database == "/abs/x.db"
    assert database_url("sqlite:///rel/x.db", tmp_path).database == "rel/x.db"
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        url = database_url(f"{scheme}://u:p@db:5433/name?options=-csearch_path%3Ds", tmp_path)
        assert url.drivername == "postgresql+psycopg" and (url.host, url.port, url.database) == ("db", 5433, "name")
        assert url.query == {"options": "-csearch_path=s"}
    with pytest.raises(StorageError, match="'mysql'"):
        database_url("mysql://u@h/db", tmp_path)


def test_sqlite_is_private_and_configured(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    with open_database(None, data_dir) as database:
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((data_dir / "storage.db").stat().st_mode) == 0o600
        with database.read() as conn:
            pragmas = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys")]
            assert pragmas == ["wal", 1]
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


@needs_postgres
def test_postgres_statements_time_out(tmp_path: Path) -> None:
    with postgres_schema() as url, open_database(url, tmp_path) as database, database.read() as conn:
        assert conn.scalar(text("SHOW statement_timeout")) == f"{STATEMENT_TIMEOUT_MS // 1000}s"
