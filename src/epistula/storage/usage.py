"""The usage store: one row per admitted request or batch item, and the aggregations
the usage and cost reports and the spend limits need.

Like the batch store, one SQL implementation serves SQLite and PostgreSQL (only the
placeholder, the bucket arithmetic and the connection differ), so the two cannot drift
and the contract tests run the same assertions against both. The table is created by
migration 3 (:mod:`epistula.storage.migrations`), which the main store applies when it
opens; the usage store has its own connection so that usage writes never wait behind
batch work on the shared one.

Stores never read a clock: times are POSIX seconds passed in by the caller.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from epistula.accounting.records import TokenCounts, UsageRecord

from .base import StorageError
from .sql import Cursor
from .sqlite import immediate_transaction

GROUP_COLUMNS: tuple[str, ...] = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
"""Columns usage can be grouped and filtered by."""

_INSERT_COLS = (
    "request_id, created_at, workspace_id, api_key_id, model, service_tier, context_window, batch, outcome,"
    " input_tokens, output_tokens, cache_read_input_tokens, cache_creation_5m_input_tokens,"
    " cache_creation_1h_input_tokens, latency_ms, ttft_ms"
)
_SUMS = (
    "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_input_tokens), 0),"
    " COALESCE(SUM(cache_creation_5m_input_tokens), 0), COALESCE(SUM(cache_creation_1h_input_tokens), 0), COUNT(*)"
)


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Rows with ``start <= created_at < end``, summed per time bucket and group."""

    start: float
    end: float
    bucket_seconds: int | None = None
    """Bucket width; buckets are aligned to multiples of it since the epoch (UTC
    minutes, hours and days). None: one bucket for the whole range."""
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Column -> allowed values (an empty sequence matches nothing)."""


@dataclass(frozen=True, slots=True)
class UsageGroup:
    bucket_start: float | None
    """Start of the group's bucket; None when the query had no buckets."""
    keys: Mapping[str, str | None]
    """The ``group_by`` columns' values."""
    tokens: TokenCounts
    requests: int


class UsageStore(Protocol):
    @property
    def backend(self) -> str: ...

    def insert(self, records: Sequence[UsageRecord]) -> None:
        """Write the rows in one transaction (all or none)."""
        ...

    def aggregate(self, query: UsageQuery) -> list[UsageGroup]:
        """Sums per bucket and group, ordered by bucket then group keys (None first)."""
        ...

    def count(self) -> int:
        """How many rows there are (operations and tests)."""
        ...

    def close(self) -> None: ...


def _row(record: UsageRecord) -> tuple[Any, ...]:
    t = record.tokens
    return (
        record.request_id,
        record.created_at,
        record.workspace_id,
        record.api_key_id,
        record.model,
        record.service_tier,
        record.context_window,
        record.batch,
        record.outcome,
        t.uncached_input_tokens,
        t.output_tokens,
        t.cache_read_input_tokens,
        t.cache_creation_5m_input_tokens,
        t.cache_creation_1h_input_tokens,
        record.latency_ms,
        record.ttft_ms,
    )


class SqlUsageStore:
    """The shared SQL; subclasses provide the connection and two dialect details."""

    backend = "sql"
    _placeholder = "?"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _transaction(self) -> contextlib.AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _bucket(self) -> str:
        """SQL for ``floor(created_at / width)`` with one placeholder for the width."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Cursor]:
        with self._lock, self._transaction() as cur:
            yield cur

    def _q(self, sql: str) -> str:
        return sql if self._placeholder == "?" else sql.replace("?", self._placeholder)

    def insert(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        marks = ", ".join("?" for _ in range(16))
        sql = self._q(f"INSERT INTO usage_records ({_INSERT_COLS}) VALUES ({marks})")
        with self._tx() as cur:
            cur.executemany(sql, [_row(r) for r in records])

    def aggregate(self, query: UsageQuery) -> list[UsageGroup]:
        for column in (*query.group_by, *query.filters):
            if column not in GROUP_COLUMNS:
                raise ValueError(f"unknown usage column {column!r}")
        where = ["created_at >= ?", "created_at < ?"]
        params: list[Any] = [query.start, query.end]
        for column, values in query.filters.items():
            if not values:
                return []
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        select: list[str] = []
        select_params: list[Any] = []
        if query.bucket_seconds is not None:
            select.append(self._bucket())
            select_params.append(query.bucket_seconds)
        select.extend(query.group_by)
        keys = ", ".join(str(i + 1) for i in range(len(select)))
        sql = f"SELECT {', '.join([*select, _SUMS])} FROM usage_records WHERE {' AND '.join(where)}"
        if keys:
            sql += f" GROUP BY {keys} ORDER BY {keys}"
        with self._tx() as cur:
            cur.execute(self._q(sql), (*select_params, *params))
            rows = cur.fetchall()
        groups: list[UsageGroup] = []
        for row in rows:
            offset = 0
            bucket: float | None = None
            if query.bucket_seconds is not None:
                bucket = float(int(row[0]) * query.bucket_seconds)
                offset = 1
            n = len(query.group_by)
            sums = [int(v) for v in row[offset + n :]]
            if sums[-1] == 0:  # an aggregate without GROUP BY over no rows
                continue
            groups.append(
                UsageGroup(
                    bucket_start=bucket,
                    keys=dict(zip(query.group_by, row[offset : offset + n], strict=True)),
                    tokens=TokenCounts(*sums[:5]),
                    requests=sums[5],
                )
            )
        # One order on both backends (they sort NULLs differently).
        groups.sort(key=lambda g: (g.bucket_start or 0.0, [(v is not None, v or "") for v in g.keys.values()]))
        return groups

    def count(self) -> int:
        with self._tx() as cur:
            cur.execute("SELECT COUNT(*) FROM usage_records")
            return int(cur.fetchone()[0])


class SqliteUsageStore(SqlUsageStore):
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        _require_table(self._db.execute("SELECT name FROM sqlite_master WHERE name = 'usage_records'").fetchone())

    def _transaction(self) -> contextlib.AbstractContextManager[Cursor]:
        return immediate_transaction(self._db)

    def _bucket(self) -> str:
        return "CAST(created_at / ? AS INTEGER)"  # truncation is floor: times are positive

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresUsageStore(SqlUsageStore):
    backend = "postgres"
    _placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise StorageError("a postgresql:// database URL needs psycopg: pip install 'epistula[postgres]'") from exc
        self._psycopg = psycopg
        self._url = url
        self._conn: Any = self._connect()
        _require_table(self._conn.execute("SELECT to_regclass('usage_records')").fetchone()[0])

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self._url, autocommit=True)
        except self._psycopg.OperationalError as exc:
            raise StorageError(f"cannot connect to the database: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        with self._conn.transaction(), self._conn.cursor() as cur:
            yield cur

    def _bucket(self) -> str:
        return "CAST(FLOOR(created_at / CAST(? AS DOUBLE PRECISION)) AS BIGINT)"

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _require_table(found: object) -> None:
    if not found:
        raise StorageError("the usage_records table is missing: open the main store first (it applies migrations)")


def open_usage_store(database_url: str | None, data_dir: Path) -> UsageStore:
    """The usage store on the database :func:`epistula.storage.open_storage` uses for the
    same settings (which must have been opened first, to apply the migrations)."""
    from . import SQLITE_FILENAME

    if not database_url:
        return SqliteUsageStore(data_dir / SQLITE_FILENAME)
    if database_url.startswith("sqlite:///"):
        return SqliteUsageStore(Path(database_url[len("sqlite:///") :]))
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresUsageStore(database_url)
    scheme = database_url.split(":", 1)[0]
    raise StorageError(f"unsupported database URL scheme {scheme!r} (use postgresql:// or sqlite:///)")
