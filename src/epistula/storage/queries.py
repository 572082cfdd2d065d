"""Query shapes several stores share: keyset pagination over ``seq`` and an insert that
does nothing on a unique conflict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Connection, Row, Table, select
from sqlalchemy.dialects import postgresql, sqlite

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A result row of any shape (read by column name)."""


def keyset_page(
    conn: Connection,
    table: Table,
    where: ColumnElement[bool],
    *,
    limit: int,
    before_id: str | None,
    after_id: str | None,
) -> tuple[Sequence[AnyRow], bool]:
    """Rows of ``table`` matching ``where``, newest (highest ``seq``) first, and whether
    there are more. ``after_id`` pages towards older rows, ``before_id`` towards newer;
    a cursor id that does not match ``where`` gives an empty page."""
    seq = table.c.seq
    query = select(table).where(where)
    cursor_id = after_id or before_id
    if cursor_id:
        cursor = conn.scalar(select(seq).where(table.c.id == cursor_id, where))
        if cursor is None:
            return [], False
        if not after_id:
            rows = conn.execute(query.where(seq > cursor).order_by(seq.asc()).limit(limit + 1)).all()
            return list(reversed(rows[:limit])), len(rows) > limit
        query = query.where(seq < cursor)
    rows = conn.execute(query.order_by(seq.desc()).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def insert_new(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert one row; False (and nothing changed) when it violates a unique constraint."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: SQLAlchemy reads the new key back on PostgreSQL, leaving no rowcount
    return conn.execute(statement.returning(*table.primary_key.columns)).first() is not None
