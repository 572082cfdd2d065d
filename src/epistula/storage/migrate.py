"""Bringing a database to the newest schema revision with Alembic, programmatically:
the environment and the revisions are in :mod:`epistula.storage.migrations` (no
``alembic.ini`` at run time).

Databases made before Alembic carry the old bookkeeping, a ``schema_migrations`` table
with versions 1-3; their schema is exactly the baseline revision's, so they are stamped
at the baseline and upgraded from there (the next revision drops the old table).

Everything happens in the caller's write transaction: on PostgreSQL, under an advisory
transaction lock, so replicas starting together migrate one after the other; on SQLite,
under ``BEGIN IMMEDIATE``. A failed migration leaves the database as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select, text

from .common import StorageError

BASELINE = "0001"
"""The revision equal to the schema of the old ``schema_migrations`` versions 1-3."""
LEGACY_VERSIONS = {1, 2, 3}
MIGRATION_LOCK = (0x45504953, 0)
"""``pg_advisory_xact_lock`` keys ("EPIS", 0), the same the old migrator took."""

# Alembic narrates every start at INFO (plugins, context, each revision's docstring);
# epistula's own log says what a start did.
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _adopt_legacy(conn: Connection, config: Config) -> None:
    tables = set(inspect(conn).get_table_names())
    if "schema_migrations" not in tables or "alembic_version" in tables:
        return
    versions = set(conn.scalars(text("SELECT version FROM schema_migrations")))
    if versions != LEGACY_VERSIONS:
        raise StorageError(
            f"the database has old schema versions {sorted(versions)}; only a database at versions 1-3 can be"
            " upgraded (start the previous epistula release on it once first)"
        )
    command.stamp(config, BASELINE)


def upgrade(conn: Connection) -> None:
    """Migrate to the head revision inside ``conn``'s (write) transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(*MIGRATION_LOCK)))
    config = alembic_config(conn)
    _adopt_legacy(conn, config)
    command.upgrade(config, "head")
