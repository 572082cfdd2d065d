"""Column types and column shapes that the schema and the migration revisions share.

The types keep the exact types the databases had before SQLAlchemy (``REAL``/``INTEGER``
flags on SQLite, ``DOUBLE PRECISION``/``BOOLEAN``/``BIGINT`` on PostgreSQL). Revisions
build their tables from these helpers, so a helper never changes what it produces: a
new shape is a new helper.

The helpers that take several names give one column per name, in that order, so a table
lists runs of alike columns as one line each and keeps its column order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import REAL, BigInteger, Boolean, Column, Double, Identity, Integer, Text, text
from sqlalchemy.types import TypeEngine

BigInt: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""``BIGINT``; ``INTEGER`` on SQLite (the same 64 bits, and what ``AUTOINCREMENT`` needs)."""
Seconds: TypeEngine[float] = Double().with_variant(REAL(), "sqlite")
"""A POSIX time (or a duration) in seconds: ``DOUBLE PRECISION``; ``REAL`` on SQLite."""
Flag: TypeEngine[bool] = Boolean().with_variant(Integer(), "sqlite")
"""``BOOLEAN``; ``INTEGER`` 0/1 on SQLite."""

ColumnType = TypeEngine[Any] | type[TypeEngine[Any]]


def seq() -> Column[int]:
    """The increasing insertion number every listable table has (keyset pagination)."""
    return Column("seq", BigInt, Identity(always=True), primary_key=True)


def public_id() -> Column[str]:
    """The id the API shows (``file_...``, ``wrkspc_...``), unique."""
    return Column("id", Text, nullable=False, unique=True)


def required(type_: ColumnType, *names: str, **options: Any) -> list[Column[Any]]:
    """``NOT NULL`` columns of one type (``options``, such as ``server_default``, for each)."""
    return [Column(name, type_, nullable=False, **options) for name in names]


def optional(type_: ColumnType, *names: str) -> list[Column[Any]]:
    """Nullable columns of one type."""
    return [Column(name, type_) for name in names]


def counters(*names: str) -> list[Column[Any]]:
    """``INTEGER NOT NULL DEFAULT 0`` columns."""
    return required(Integer, *names, server_default=text("0"))


def only_where(condition: str) -> dict[str, Any]:
    """The keyword arguments of a partial index (both dialects) over the rows matching ``condition``."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}
