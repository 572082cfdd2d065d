"""Alembic's environment: always online, on the connection :mod:`epistula.storage.migrate`
passes in ``config.attributes`` (inside its transaction)."""

from __future__ import annotations

from alembic import context

from epistula.storage.schema import metadata

if context.is_offline_mode():
    raise RuntimeError("epistula's migrations run online only (epistula.storage.migrate)")

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
