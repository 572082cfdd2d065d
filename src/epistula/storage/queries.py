"""Query shapes several stores share: keyset pagination over ``seq``, an insert that
does nothing on a unique conflict, and records read from and written to rows whose
columns are named like the record's fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from .common import ListPage

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A result row of any shape (read by column name)."""
T = TypeVar("T")
R = TypeVar("R", bound="DataclassInstance")


def from_row(record: type[R], row: AnyRow, **computed: Any) -> R:
    """A ``record`` dataclass whose fields are the row's columns of the same names, but
    for the ``computed`` ones (decoded, or not stored as such)."""
    columns = row._mapping
    return record(**{f.name: columns[f.name] for f in fields(record) if f.name not in computed}, **computed)


def reader(record: type[R]) -> Callable[[AnyRow], R]:
    """:func:`from_row` for ``record`` as a function of the row alone (a plain record: no
    computed fields), for :func:`keyset_page` and single-row reads."""
    return partial(from_row, record)


def to_row(record: DataclassInstance) -> dict[str, Any]:
    """The record's fields as column values (for an insert)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def keyset_page(
    conn: Connection,
    table: Table,
    where: ColumnElement[bool],
    record: Callable[[AnyRow], T],
    *,
    limit: int,
    before_id: str | None,
    after_id: str | None,
    ids: Sequence[str] | None = None,
) -> ListPage[T]:
    """The rows of ``table`` matching ``where`` (and with an id in ``ids``, when given),
    newest (highest ``seq``) first, each made by ``record``. ``after_id`` pages towards
    older rows, ``before_id`` towards newer; a cursor id that does not match gives an empty page."""
    if ids is not None:
        if not ids:
            return ListPage([], False)
        where &= table.c.id.in_(ids)
    seq = table.c.seq
    query = select(table).where(where)
    cursor_id = after_id or before_id
    if cursor_id:
        cursor = conn.scalar(select(seq).where(table.c.id == cursor_id, where))
        if cursor is None:
            return ListPage([], False)
        if not after_id:
            rows = conn.execute(query.where(seq > cursor).order_by(seq.asc()).limit(limit + 1)).all()
            return ListPage([record(row) for row in reversed(rows[:limit])], len(rows) > limit)
        query = query.where(seq < cursor)
    rows = conn.execute(query.order_by(seq.desc()).limit(limit + 1)).all()
    return ListPage([record(row) for row in rows[:limit]], len(rows) > limit)


def insert_new(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert one row; False (and nothing changed) when it violates a unique constraint."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: SQLAlchemy reads the new key back on PostgreSQL, leaving no rowcount
    return conn.execute(statement.returning(*table.primary_key.columns)).first() is not None
