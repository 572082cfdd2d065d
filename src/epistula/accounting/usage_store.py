"""The usage store: one row per admitted request or batch item, and the aggregations
the usage and cost reports and the spend limits need.

One implementation serves SQLite and PostgreSQL (only the bucket arithmetic differs),
so the two cannot drift, and the contract tests run the same assertions against both.
The table is :data:`epistula.storage.schema.usage_records`.

Stores never read a clock: times are POSIX seconds passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Double, Integer, cast, func, insert, select

from epistula.storage.database import Database
from epistula.storage.schema import usage_records

from .records import TokenCounts, UsageRecord

GROUP_COLUMNS: tuple[str, ...] = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
"""Columns usage can be grouped and filtered by."""
_TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
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


def _row(record: UsageRecord) -> dict[str, Any]:
    t = record.tokens
    return {
        "request_id": record.request_id,
        "created_at": record.created_at,
        "workspace_id": record.workspace_id,
        "api_key_id": record.api_key_id,
        "model": record.model,
        "service_tier": record.service_tier,
        "context_window": record.context_window,
        "batch": record.batch,
        "outcome": record.outcome,
        "input_tokens": t.uncached_input_tokens,
        "output_tokens": t.output_tokens,
        "cache_read_input_tokens": t.cache_read_input_tokens,
        "cache_creation_5m_input_tokens": t.cache_creation_5m_input_tokens,
        "cache_creation_1h_input_tokens": t.cache_creation_1h_input_tokens,
        "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms,
    }


class UsageStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @property
    def backend(self) -> str:
        return self._db.backend

    def _bucket(self, width: int) -> ColumnElement[int]:
        """``floor(created_at / width)``."""
        u = usage_records.c
        if self._db.backend == "sqlite":
            return cast(u.created_at / width, Integer)  # truncation is floor: times are positive
        return cast(func.floor(u.created_at / cast(width, Double)), BigInteger)

    def insert(self, records: Sequence[UsageRecord]) -> None:
        """Write the rows in one transaction (all or none)."""
        if not records:
            return
        with self._db.write() as conn:
            conn.execute(insert(usage_records), [_row(r) for r in records])

    def aggregate(self, query: UsageQuery) -> list[UsageGroup]:
        """Sums per bucket and group, ordered by bucket then group keys (None first)."""
        for column in (*query.group_by, *query.filters):
            if column not in GROUP_COLUMNS:
                raise ValueError(f"unknown usage column {column!r}")
        u = usage_records.c
        where = [u.created_at >= query.start, u.created_at < query.end]
        for column, values in query.filters.items():
            if not values:
                return []
            where.append(u[column].in_(values))
        keys: list[ColumnElement[Any]] = []
        if query.bucket_seconds is not None:
            keys.append(self._bucket(query.bucket_seconds).label("bucket"))
        keys.extend(u[column] for column in query.group_by)
        sums = [func.coalesce(func.sum(u[column]), 0) for column in _TOKEN_COLUMNS]
        statement = select(*keys, *sums, func.count()).where(*where)
        if keys:
            # by label or column name: a repeated bucket expression would be a second
            # bind parameter, which PostgreSQL cannot match to the selected one
            names = [key.name for key in keys]
            statement = statement.group_by(*names).order_by(*names)
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
        groups: list[UsageGroup] = []
        n = len(query.group_by)
        for row in rows:
            offset = 0
            bucket: float | None = None
            if query.bucket_seconds is not None:
                bucket = float(int(row[0]) * query.bucket_seconds)
                offset = 1
            counts = [int(v) for v in row[offset + n :]]
            if counts[-1] == 0:  # an aggregate without GROUP BY over no rows
                continue
            groups.append(
                UsageGroup(
                    bucket_start=bucket,
                    keys=dict(zip(query.group_by, row[offset : offset + n], strict=True)),
                    tokens=TokenCounts(*counts[:5]),
                    requests=counts[5],
                )
            )
        # One order on both backends (they sort NULLs differently).
        groups.sort(key=lambda g: (g.bucket_start or 0.0, [(v is not None, v or "") for v in g.keys.values()]))
        return groups

    def count(self) -> int:
        """How many rows there are (operations and tests)."""
        with self._db.read() as conn:
            return int(conn.scalar(select(func.count()).select_from(usage_records)) or 0)
