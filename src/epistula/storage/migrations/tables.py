"""Table shapes the revisions share (the column shapes are in :mod:`epistula.storage.columns`).

Like the column helpers, a helper here never changes what it creates: a revision that
used it must keep building the same table.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Table
from sqlalchemy.schema import SchemaItem

from epistula.storage.columns import public_id, seq


def create_listable(name: str, *items: SchemaItem) -> Table:
    """A listable table: ``seq`` and the public ``id`` first, then ``items``; on SQLite
    ``AUTOINCREMENT``, so that a deleted row's ``seq`` is never handed out again."""
    return op.create_table(name, seq(), public_id(), *items, sqlite_autoincrement=True)
